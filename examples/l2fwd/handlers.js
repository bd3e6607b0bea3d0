// The Dispatcher's handler module for l2fwd: the virtio-net driver's handler and NAPI hooks around the
// forwarding app. Every service worker imports it and maps the device's memory itself (@virq/pci's attach).
import { DmaBuffer, MmioRegion } from '@virq/pci';
import { vfioAttach, virtioNetHandlers } from '@virq/virtio-net';
import { l2fwdApp } from './app.js';

let app;
const nic = virtioNetHandlers(
  { frame: (pair, frame) => app.frame(pair, frame) },
  vfioAttach({ attachDma: (h) => DmaBuffer.attach(h), attachRegion: (h) => MmioRegion.attach(h) }),
);

export function handler(vector, ctx) {
  app ??= l2fwdApp(ctx.data.l2fwd);
  return nic.handler(vector, ctx);
}

export const napi = {
  mask: (vector, ctx) => nic.napi.mask(vector, ctx),
  poll(vector, ctx, budget) {
    app ??= l2fwdApp(ctx.data.l2fwd);
    return nic.napi.poll(vector, ctx, budget);
  },
  unmask: (vector, ctx) => nic.napi.unmask(vector, ctx),
};
