/**
 * A level interrupt nobody acknowledges, with the INTx trigger and the INTx unmask eventfd being the
 * same eventfd: every trigger unmasks, the line is still asserted, so the unmask re-sends the trigger
 * (the virqfd thread), which unmasks again — an interrupt storm, as the kernel would have on this
 * configuration. The storm must cost CPU, not the thread: the deferred thread runs as work queued for
 * later (schedule_work), so timers and I/O still run between its rounds and the device can be closed.
 * (Found by the fuzzer twice: with the deferred run on the microtask queue the event loop never turned
 * again; later, at seed 7 op ~500k, the same through the unmask handler's re-delivery of the level on a
 * device without PCI 2.3 masking — the line is disabled and re-enabled, not DisINTx-masked.)
 */
import test from 'ava';
import {
  VFIO_IRQ_SET_DATA_EVENTFD as EFD,
  VFIO_PCI_INTX_IRQ_INDEX as INTX,
  SharedEventFd,
  SoftDevice,
  VFIO_IRQ_SET_ACTION_TRIGGER as TRIG,
  VFIO_IRQ_SET_ACTION_UNMASK as UNMASK,
} from '../src/index.js';

for (const pci23 of [true, false])
  test(`an INTx storm through a shared trigger/unmask eventfd leaves the event loop running (pci_2_3 ${pci23})`, async (t) => {
    const dev = new SoftDevice({ intx: { pci23 } });
    const efd = SharedEventFd.create({ nonblock: true });
    try {
      dev.setIrqs({ flags: EFD | TRIG, index: INTX, start: 0, count: 1, data: [efd] });
      dev.setIrqs({ flags: EFD | UNMASK, index: INTX, start: 0, count: 1, data: [efd] });
      t.is(dev.raise(INTX, 0), 'signalled');
      const timerRan = await new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 50));
      t.true(timerRan);
      const c = dev.vectorTable.counters(INTX, 0);
      t.true(c.raised > 1, `the unacknowledged level was re-sent (raised ${c.raised})`);
      t.is(c.raised, c.delivered + c.coalesced + c.pending + c.dropped);
      // acknowledging the device ends the storm
      dev.deassertIntx();
      await new Promise((r) => setTimeout(r, 20));
      const settled = dev.vectorTable.counters(INTX, 0).raised;
      await new Promise((r) => setTimeout(r, 50));
      t.is(dev.vectorTable.counters(INTX, 0).raised, settled, 'no re-sends once the level is gone');
    } finally {
      dev.close();
      efd.close();
    }
  });
