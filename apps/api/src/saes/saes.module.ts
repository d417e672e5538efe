import { Module } from '@nestjs/common';
import { SaesController } from './saes.controller.js';
import { SaesRepository } from './saes.repository.js';
import { SaesService } from './saes.service.js';

@Module({
  controllers: [SaesController],
  providers: [SaesRepository, SaesService],
  exports: [SaesRepository],
})
export class SaesModule {}
