import { type JsMsg } from '@nats-io/jetstream';
import { BaseRpcContext } from '@nestjs/microservices';

/** What a job handler may know about its delivery: the message, and how many times it has been delivered. */
export class JetStreamJobContext extends BaseRpcContext<[JsMsg, number]> {
  getMessage(): JsMsg {
    return this.args[0];
  }

  /** 1 on the first delivery. */
  getDeliveryCount(): number {
    return this.args[0].info.deliveryCount;
  }

  /**
   * MAX_DELIVER: the handler gives up (marks the evaluation failed) on this delivery if it fails again on
   * the evaluation; an outage on it hands the job back to the sweeper instead.
   */
  getMaxDeliver(): number {
    return this.args[1];
  }
}
