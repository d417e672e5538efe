import { Module } from '@nestjs/common';
import { DashboardController } from './dashboard.controller.js';

/** Serves the web dashboard (apps/api/dashboard) at `GET /`; see DashboardController. */
@Module({ controllers: [DashboardController] })
export class DashboardModule {}
