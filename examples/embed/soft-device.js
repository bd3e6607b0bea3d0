// A Dispatcher servicing 256 MSI-X vectors of the built-in software device.
import { Dispatcher, VFIO_PCI_MSIX_IRQ_INDEX as MSIX, SoftDevice } from 'virq';

const device = new SoftDevice({ msix: { vectors: 256 } });
const dispatcher = new Dispatcher({
  device,
  index: MSIX,
  vectors: 256,
  workers: 2,
  mode: 'hybrid', // NAPI-style: busy vectors are masked and polled, quiet ones take interrupts
  module: new URL('./handlers.js', import.meta.url),
});
dispatcher.on('error', ({ vector, error }) => console.error(`vector ${vector}: ${error.message}`));
await dispatcher.start();
for (let round = 0; round < 100; round++) {
  for (let v = 0; v < 256; v++) device.raise(MSIX, v); // the device sends MSI-X message v
}
while (dispatcher.stats().totals.pending > 0) await new Promise((r) => setTimeout(r, 10));
await dispatcher.stop();
const { raised, delivered, coalesced, pending, dropped } = dispatcher.stats().totals;
console.log({ raised, delivered, coalesced, pending, dropped });
device.close();
