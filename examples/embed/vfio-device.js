// The same Dispatcher on a real PCI function bound to vfio-pci: argv[2] is its address.
import { Dispatcher, VFIO_PCI_MSIX_IRQ_INDEX as MSIX, native, VfioDevice } from 'virq';

const bdf = process.argv[2] ?? '0000:01:00.0';
const { container, group, device: fd } = native.openVfioPci(bdf); // container, group, device fd
const device = VfioDevice.fromFd(fd.fd); // same IrqDevice interface; the kernel validates
const { count } = device.getIrqInfo(MSIX);
const dispatcher = new Dispatcher({
  device,
  index: MSIX,
  vectors: count,
  workers: 2,
  module: new URL('./handlers.js', import.meta.url),
});
await dispatcher.start(); // binds a kernel eventfd to every vector with VFIO_DEVICE_SET_IRQS
process.once('SIGINT', async () => {
  await dispatcher.stop(); // tears the vectors down again (DATA_NONE, count 0)
  console.log(dispatcher.stats().totals);
  fd.close();
  group.close();
  container.close();
});
