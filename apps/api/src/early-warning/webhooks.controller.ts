import { Body, Controller, Get, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import {
  type DeliveryView,
  UUID,
  type WebhookView,
  WebhooksRepository,
} from '../../../../libs/early-warning/src/index.js';
import { CreateWebhookDto } from './alerts.dto.js';
import { optionalInt } from './errors.js';

@ApiTags('alerts')
@Controller('v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksRepository) {}

  @Post()
  @ApiOperation({
    summary: "Register a webhook for a project's alert changes",
    description:
      'Each change is POSTed as JSON {eventId, change, alert} with `X-Sentinel-Signature: sha256=<hex HMAC-SHA256 of the body>`; failures are retried with exponential backoff.',
  })
  create(@Body() body: CreateWebhookDto): Promise<WebhookView & { secret: string }> {
    return this.webhooks.create(body);
  }

  @Get()
  @ApiQuery({ name: 'project', required: false })
  async list(@Query('project') project?: string): Promise<{ webhooks: WebhookView[] }> {
    return { webhooks: await this.webhooks.list(project || undefined) };
  }

  @Get(':id/deliveries')
  @ApiOperation({ summary: 'The delivery log: every delivery and each of its attempts, newest first' })
  @ApiQuery({ name: 'limit', required: false })
  async deliveries(
    @Param('id') id: string,
    @Query('limit') limit?: string,
  ): Promise<{ deliveries: DeliveryView[] }> {
    if (!UUID.test(id) || !(await this.webhooks.exists(id)))
      throw new NotFoundException(`webhook ${id} not found`);
    const n = Math.min(optionalInt('limit', limit) ?? 100, 1000);
    return { deliveries: await this.webhooks.deliveries(id, n) };
  }
}
