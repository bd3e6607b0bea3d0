import { existsSync } from 'node:fs';
import test, { type ExecutionContext } from 'ava';
import {
  EventFd,
  IOMMUFD,
  Iommufd,
  iommuGroupOf,
  isErrnoError,
  openVfioCdev,
  openVfioPci,
  VFIO,
  VFIO_IOCTL,
  VfioContainer,
  VfioDevice,
  VfioGroup,
  vfioUapi,
} from '../src/index.js';
import { noLeaks } from './helpers.js';

function expectErrno(t: ExecutionContext, fn: () => unknown, code: string, errno: number, syscall: string) {
  const e = t.throws(fn);
  t.true(isErrnoError(e, code), `expected ${code}, got ${String(e)}`);
  t.like(e, { code, errno, syscall });
  return e as Error & { path?: string };
}

const helpful = (t: ExecutionContext, e: Error) => {
  t.regex(e.message, /modprobe vfio-pci/);
  t.regex(e.message, /\/sys\/bus\/pci\/drivers\/vfio-pci\/bind/);
  t.regex(e.message, /driver_override/);
  t.regex(e.message, /readable and writable by this user/);
};

test.serial(
  'opening VFIO where it is missing says which module to load and how to bind a device',
  async (t) => {
    await noLeaks(t, () => {
      if (existsSync('/dev/vfio')) {
        // A VFIO machine (the QEMU guest): a group that does not exist gets the binding help.
        const e = expectErrno(t, () => VfioGroup.open(99999), 'ENOENT', -2, 'open');
        t.is(e.path, '/dev/vfio/99999');
        t.regex(e.message, /no device of that IOMMU group/);
        helpful(t, e);
      } else {
        const e = expectErrno(t, () => VfioContainer.open(), 'ENOENT', -2, 'open');
        t.is(e.path, '/dev/vfio/vfio');
        t.regex(e.message, /\/dev\/vfio does not exist: the VFIO driver is not loaded/);
        helpful(t, e);
        const g = expectErrno(t, () => VfioGroup.open(7, { noiommu: true }), 'ENOENT', -2, 'open');
        t.is(g.path, '/dev/vfio/noiommu-7');
        helpful(t, g);
        expectErrno(t, () => openVfioCdev(0), 'ENOENT', -2, 'open');
      }
      const pci = expectErrno(t, () => openVfioPci('0000:ff:1f.7'), 'ENOENT', -2, 'readlink');
      helpful(t, pci);
      t.throws(() => iommuGroupOf('0000:ff:1f.7'), { code: 'ENOENT' } as never);
    });
  },
);

test.serial(
  'every VFIO ioctl on a wrong kind of fd (an eventfd) fails with ENOTTY naming the ioctl',
  async (t) => {
    await noLeaks(t, () => {
      const ev = EventFd.create({ nonblock: true });
      // The handles take ownership of duplicates of the eventfd, so closing them is all the cleanup.
      const container = VfioContainer.fromFd(EventFd.fromFd(ev.fd).fd);
      const group = VfioGroup.fromFd(EventFd.fromFd(ev.fd).fd);
      const device = VfioDevice.fromFd(EventFd.fromFd(ev.fd).fd);
      const ioctl = (name: string) => `ioctl(${name})`;
      expectErrno(t, () => container.getApiVersion(), 'ENOTTY', -25, ioctl('VFIO_GET_API_VERSION'));
      expectErrno(
        t,
        () => container.checkExtension(VFIO.TYPE1v2_IOMMU),
        'ENOTTY',
        -25,
        ioctl('VFIO_CHECK_EXTENSION'),
      );
      expectErrno(t, () => container.setIommu(VFIO.TYPE1v2_IOMMU), 'ENOTTY', -25, ioctl('VFIO_SET_IOMMU'));
      expectErrno(t, () => group.getStatus(), 'ENOTTY', -25, ioctl('VFIO_GROUP_GET_STATUS'));
      expectErrno(t, () => group.setContainer(container), 'ENOTTY', -25, ioctl('VFIO_GROUP_SET_CONTAINER'));
      expectErrno(t, () => group.unsetContainer(), 'ENOTTY', -25, ioctl('VFIO_GROUP_UNSET_CONTAINER'));
      expectErrno(t, () => group.getDevice('0000:00:03.0'), 'ENOTTY', -25, ioctl('VFIO_GROUP_GET_DEVICE_FD'));
      expectErrno(t, () => device.getInfo(), 'ENOTTY', -25, ioctl('VFIO_DEVICE_GET_INFO'));
      expectErrno(t, () => device.getRegionInfo(7), 'ENOTTY', -25, ioctl('VFIO_DEVICE_GET_REGION_INFO'));
      expectErrno(t, () => device.getIrqInfo(2), 'ENOTTY', -25, ioctl('VFIO_DEVICE_GET_IRQ_INFO'));
      const trigger = VFIO.IRQ_SET_ACTION_TRIGGER;
      for (const req of [
        { flags: VFIO.IRQ_SET_DATA_EVENTFD | trigger, index: 2, start: 0, count: 2, data: [ev.fd, -1] },
        {
          flags: VFIO.IRQ_SET_DATA_EVENTFD | trigger,
          index: 2,
          start: 0,
          count: 1,
          data: Int32Array.of(ev.fd),
        },
        { flags: VFIO.IRQ_SET_DATA_BOOL | trigger, index: 2, start: 0, count: 3, data: [true, false, 1] },
        { flags: VFIO.IRQ_SET_DATA_NONE | trigger, index: 2, start: 0, count: 0 },
        { flags: VFIO.IRQ_SET_DATA_NONE | trigger, index: 2, start: 0, count: 1 << 20, argsz: 4096 },
      ]) {
        expectErrno(t, () => device.setIrqs(req), 'ENOTTY', -25, ioctl('VFIO_DEVICE_SET_IRQS'));
      }
      expectErrno(t, () => device.reset(), 'ENOTTY', -25, ioctl('VFIO_DEVICE_RESET'));
      expectErrno(t, () => device.bindIommufd(-1), 'ENOTTY', -25, ioctl('VFIO_DEVICE_BIND_IOMMUFD'));
      expectErrno(t, () => device.attachIommufdPt(1), 'ENOTTY', -25, ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT'));
      const iommufd = Iommufd.fromFd(EventFd.fromFd(ev.fd).fd);
      expectErrno(t, () => iommufd.allocIoas(), 'ENOTTY', -25, ioctl('IOMMU_IOAS_ALLOC'));
      // An eventfd cannot be read at an offset: the kernel answers ESPIPE.
      expectErrno(t, () => device.regionRead(0n, 8), 'ESPIPE', -29, 'pread');
      expectErrno(t, () => device.regionWrite(0, new Uint8Array(8)), 'ESPIPE', -29, 'pwrite');
      expectErrno(t, () => device.configRead(4, 2), 'ENOTTY', -25, ioctl('VFIO_DEVICE_GET_REGION_INFO'));
      t.throws(() => device.setIrqs({ flags: 0, index: 0, start: 0, count: 2 ** 32 }), {
        instanceOf: RangeError,
      });
      for (const h of [container, group, device, iommufd]) {
        h.close();
        h.close();
        t.true(h.closed);
      }
      expectErrno(t, () => device.getInfo(), 'EBADF', -9, ioctl('VFIO_DEVICE_GET_INFO'));
      t.throws(() => ev.read(), { code: 'EAGAIN' } as never, 'the failed ioctls left the counter alone');
      ev.close();
    });
  },
);

test.serial("the TypeScript VFIO constants equal the addon's compiled-in uapi", (t) => {
  const uapi = vfioUapi();
  t.deepEqual(uapi.ioctls, { ...VFIO_IOCTL });
  const ts: Record<string, number> = {};
  for (const [name, value] of Object.entries(VFIO)) ts[`VFIO_${name}`] = value;
  for (const [name, value] of Object.entries(IOMMUFD)) ts[`IOMMU_${name}`] = value;
  for (const [name, value] of Object.entries({ ...uapi.constants, ...uapi.enums })) {
    t.is(ts[name], value, name);
  }
  t.is(uapi.structs.vfio_irq_info.size, VFIO.IRQ_INFO_SIZE);
  t.is(uapi.structs.vfio_irq_set.size, VFIO.IRQ_SET_HEADER_SIZE);
});
