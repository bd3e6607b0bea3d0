import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { loadNative, type NativeBinding, type NativeFdHandle } from './binding.js';
import { codedError, type ErrnoError, isErrnoError } from './errors.js';
import { VFIO, type VfioUapiTable } from './vfio-uapi.js';

/** Where VFIO lives in /dev. */
export const VFIO_DEV = '/dev/vfio';

const BIND_HELP =
  'Load the driver with `modprobe vfio-pci` (plus `modprobe vfio_iommu_type1`, or on a machine without an ' +
  'IOMMU `modprobe vfio enable_unsafe_noiommu_mode=1`), then bind the device to it: ' +
  '`echo vfio-pci > /sys/bus/pci/devices/0000:BB:DD.F/driver_override` and ' +
  '`echo 0000:BB:DD.F > /sys/bus/pci/devices/0000:BB:DD.F/driver/unbind` (if it has a driver), then ' +
  '`echo 0000:BB:DD.F > /sys/bus/pci/drivers/vfio-pci/bind` (or `echo VVVV DDDD > ' +
  '/sys/bus/pci/drivers/vfio-pci/new_id`). The group node /dev/vfio/N (N from ' +
  '/sys/bus/pci/devices/0000:BB:DD.F/iommu_group) must be readable and writable by this user.';

/** Rewrites open()'s ENOENT/EACCES under /dev/vfio into one that says what to do; same code/errno/syscall. */
function explainOpenError(e: unknown, path: string): unknown {
  if (!isErrnoError(e)) return e;
  let message: string | undefined;
  if (e.code === 'ENOENT') {
    let hasVfio = true;
    try {
      readlinkSync(VFIO_DEV);
    } catch (err) {
      hasVfio = !isErrnoError(err, 'ENOENT');
    }
    message = hasVfio
      ? `${path} does not exist: no device of that IOMMU group (or no such cdev) is bound to vfio-pci. ${BIND_HELP}`
      : `${VFIO_DEV} does not exist: the VFIO driver is not loaded on this machine. ${BIND_HELP}`;
  } else if (e.code === 'EACCES' || e.code === 'EPERM') {
    message =
      `${path}: permission denied. Give this user access to the VFIO group node (e.g. ` +
      '`chown $USER /dev/vfio/N` or a udev rule) and raise RLIMIT_MEMLOCK for DMA mappings; no-IOMMU ' +
      'mode needs CAP_SYS_RAWIO.';
  }
  if (message === undefined) return e;
  const err = new Error(`${e.code}: ${message}`, { cause: e }) as ErrnoError;
  err.code = e.code;
  err.errno = e.errno;
  err.syscall = e.syscall;
  err.path = path;
  return err;
}

/** Base of the VFIO handles: one owned fd, closed by close(), GC, or the thread's exit. */
abstract class VfioFile {
  protected readonly native: NativeBinding;
  #fd: number;
  #owner: NativeFdHandle;

  protected constructor(native: NativeBinding, fd: number) {
    this.native = native;
    this.#fd = fd;
    this.#owner = new native.FdHandle(fd);
  }

  protected static openPath(native: NativeBinding, path: string): number {
    try {
      return native.vfio.open(path);
    } catch (e) {
      throw explainOpenError(e, path);
    }
  }

  /** The fd number; -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Closes the fd. Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    this.#fd = -1;
    this.#owner.close();
  }
}

/** A VFIO container (/dev/vfio/vfio): the IOMMU context that groups attach to. */
export class VfioContainer extends VfioFile {
  /** Opens `/dev/vfio/vfio` (or `path`). ENOENT explains which module to load and how to bind. */
  static open(path = `${VFIO_DEV}/vfio`): VfioContainer {
    const native = loadNative();
    return new VfioContainer(native, VfioFile.openPath(native, path));
  }

  /** Takes ownership of an open container fd. */
  static fromFd(fd: number): VfioContainer {
    return new VfioContainer(loadNative(), fd);
  }

  /** VFIO_GET_API_VERSION: {@link VFIO}.API_VERSION (0) on every kernel so far. */
  getApiVersion(): number {
    return this.native.vfio.getApiVersion(this.fd);
  }

  /** VFIO_CHECK_EXTENSION: > 0 if the extension (an IOMMU type such as VFIO.TYPE1v2_IOMMU) is supported. */
  checkExtension(extension: number): number {
    return this.native.vfio.checkExtension(this.fd, extension);
  }

  /** VFIO_SET_IOMMU: needs at least one group attached first (else EINVAL). */
  setIommu(type: number): void {
    this.native.vfio.setIommu(this.fd, type);
  }
}

/** VFIO_GROUP_GET_STATUS decoded. */
export interface VfioGroupStatus {
  argsz: number;
  flags: number;
  /** Every device of the group is bound to vfio (or unbound): the group may be used. */
  viable: boolean;
  containerSet: boolean;
}

/** A VFIO group (/dev/vfio/N, or /dev/vfio/noiommu-N in no-IOMMU mode). */
export class VfioGroup extends VfioFile {
  /**
   * Opens a group by number (`/dev/vfio/N`, or `/dev/vfio/noiommu-N` with `noiommu`) or by path.
   * ENOENT/EACCES explain how to load vfio-pci, bind the device and fix permissions.
   */
  static open(group: number | string, options: { noiommu?: boolean } = {}): VfioGroup {
    const native = loadNative();
    const path =
      typeof group === 'string' ? group : `${VFIO_DEV}/${options.noiommu === true ? 'noiommu-' : ''}${group}`;
    return new VfioGroup(native, VfioFile.openPath(native, path));
  }

  /** Takes ownership of an open group fd. */
  static fromFd(fd: number): VfioGroup {
    return new VfioGroup(loadNative(), fd);
  }

  /** VFIO_GROUP_GET_STATUS. */
  getStatus(): VfioGroupStatus {
    const s = this.native.vfio.groupGetStatus(this.fd);
    return {
      ...s,
      viable: (s.flags & VFIO.GROUP_FLAGS_VIABLE) !== 0,
      containerSet: (s.flags & VFIO.GROUP_FLAGS_CONTAINER_SET) !== 0,
    };
  }

  /** VFIO_GROUP_SET_CONTAINER. */
  setContainer(container: VfioContainer | number): void {
    this.native.vfio.groupSetContainer(this.fd, typeof container === 'number' ? container : container.fd);
  }

  /** VFIO_GROUP_UNSET_CONTAINER. */
  unsetContainer(): void {
    this.native.vfio.groupUnsetContainer(this.fd);
  }

  /** VFIO_GROUP_GET_DEVICE_FD: opens a device of the group by name ('0000:00:03.0'). */
  getDevice(name: string): VfioDevice {
    return VfioDevice.fromFd(this.native.vfio.groupGetDeviceFd(this.fd, name));
  }
}

/** VFIO_DEVICE_GET_INFO. */
export interface VfioDeviceInfo {
  argsz: number;
  /** VFIO.DEVICE_FLAGS_* */
  flags: number;
  numRegions: number;
  numIrqs: number;
  capOffset: number;
}

/** VFIO_DEVICE_GET_REGION_INFO. `offset` is where the region's bytes live in the device fd. */
export interface VfioRegionInfo {
  /** > 32 when the kernel has capabilities to report (decoded by `getRegionInfoCaps` only). */
  argsz: number;
  /** VFIO.REGION_INFO_FLAG_* (READ, WRITE, MMAP, CAPS). */
  flags: number;
  index: number;
  capOffset: number;
  size: bigint;
  /** Where the region's bytes start in the device fd (pread/pwrite/mmap offset). */
  offset: bigint;
}

/** VFIO_DEVICE_GET_IRQ_INFO. */
export interface VfioIrqInfo {
  argsz: number;
  /** VFIO.IRQ_INFO_* */
  flags: number;
  index: number;
  count: number;
}

/**
 * A VFIO_DEVICE_SET_IRQS request. `data` by data type: DATA_EVENTFD → fds (Int32Array or number[],
 * -1 = "no trigger"), DATA_BOOL → Uint8Array or boolean[]/number[], DATA_NONE → absent. A typed array is
 * sent byte for byte whatever the flags say, so the kernel's own checks decide. `argsz` defaults to 20 +
 * the data's bytes, so data shorter than `count` is the kernel's truncated-argsz case (EINVAL).
 */
export interface VfioIrqSet {
  flags: number;
  index: number;
  start: number;
  count: number;
  data?: Int32Array | Uint8Array | ReadonlyArray<number | boolean>;
  /** Override argsz (to exercise the kernel's argument checks); the buffer is zero-padded to match. */
  argsz?: number;
}

function irqSetData(req: VfioIrqSet): Int32Array | Uint8Array | undefined {
  const { data } = req;
  if (data === undefined || data instanceof Int32Array || data instanceof Uint8Array) return data;
  if ((req.flags & VFIO.IRQ_SET_DATA_EVENTFD) !== 0) return Int32Array.from(data, (v) => Number(v));
  return Uint8Array.from(data, (v) => (v === true || (typeof v === 'number' && v !== 0) ? 1 : 0));
}

/** A VFIO device fd (from a group, or a cdev): the per-ioctl raw API. */
export class VfioDevice extends VfioFile {
  #configOffset: bigint | undefined;

  /** Takes ownership of an open device fd. */
  static fromFd(fd: number): VfioDevice {
    return new VfioDevice(loadNative(), fd);
  }

  /** Opens a device cdev path without binding it (see {@link openVfioCdev}). */
  static openCdev(path: string): VfioDevice {
    const native = loadNative();
    return new VfioDevice(native, VfioFile.openPath(native, path));
  }

  /** VFIO_DEVICE_GET_INFO. */
  getInfo(): VfioDeviceInfo {
    return this.native.vfio.deviceGetInfo(this.fd);
  }

  /** VFIO_DEVICE_GET_REGION_INFO. */
  getRegionInfo(index: number): VfioRegionInfo {
    return this.native.vfio.deviceGetRegionInfo(this.fd, index);
  }

  /** VFIO_DEVICE_GET_IRQ_INFO; `argsz` (default 16) may be overridden to probe the kernel's checks. */
  getIrqInfo(index: number, argsz?: number): VfioIrqInfo {
    return this.native.vfio.deviceGetIrqInfo(this.fd, index, argsz);
  }

  /**
   * VFIO_DEVICE_SET_IRQS. Returns the ioctl's result: 0, or a positive vector count when the platform
   * granted fewer MSI/MSI-X vectors than asked.
   *
   * @throws ErrnoError with syscall 'ioctl(VFIO_DEVICE_SET_IRQS)' (EINVAL, ENOTTY, EBADF, EBUSY, ENODEV...).
   */
  setIrqs(req: VfioIrqSet): number {
    return this.native.vfio.deviceSetIrqs(
      this.fd,
      req.flags,
      req.index,
      req.start,
      req.count,
      irqSetData(req),
      req.argsz,
    );
  }

  /** VFIO_DEVICE_RESET. */
  reset(): void {
    this.native.vfio.deviceReset(this.fd);
  }

  /** VFIO_DEVICE_BIND_IOMMUFD (cdev only): -1 for no-IOMMU mode. Returns the device id. */
  bindIommufd(iommufd: Iommufd | number): number {
    return this.native.vfio.deviceBindIommufd(this.fd, typeof iommufd === 'number' ? iommufd : iommufd.fd);
  }

  /** VFIO_DEVICE_ATTACH_IOMMUFD_PT (cdev only): attach to an IOAS or HWPT; returns the attached id. */
  attachIommufdPt(ptId: number): number {
    return this.native.vfio.deviceAttachIommufdPt(this.fd, ptId);
  }

  /** pread(2) of `length` bytes at `offset` of the device fd (a region's info.offset + offset within it). */
  regionRead(offset: bigint | number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    const n = this.native.vfio.pread(this.fd, buf, offset);
    return n === length ? buf : buf.subarray(0, n);
  }

  /** pwrite(2) of `data` at `offset` of the device fd; returns bytes written. */
  regionWrite(offset: bigint | number, data: Uint8Array): number {
    return this.native.vfio.pwrite(this.fd, data, offset);
  }

  /** Reads PCI config space (region VFIO.PCI_CONFIG_REGION_INDEX) at `offset`. */
  configRead(offset: number, length: number): Buffer {
    return this.regionRead(this.#config() + BigInt(offset), length);
  }

  /** Writes PCI config space at `offset` (e.g. the command register's Bus Master bit, which MSI needs). */
  configWrite(offset: number, data: Uint8Array): number {
    return this.regionWrite(this.#config() + BigInt(offset), data);
  }

  #config(): bigint {
    this.#configOffset ??= this.getRegionInfo(VFIO.PCI_CONFIG_REGION_INDEX).offset;
    return this.#configOffset;
  }
}

/** An iommufd (/dev/iommu), for binding device cdevs to an IO address space. */
export class Iommufd extends VfioFile {
  /** Opens /dev/iommu (or `path`). */
  static open(path = '/dev/iommu'): Iommufd {
    const native = loadNative();
    return new Iommufd(native, VfioFile.openPath(native, path));
  }

  /** Takes ownership of an open iommufd. */
  static fromFd(fd: number): Iommufd {
    return new Iommufd(loadNative(), fd);
  }

  /** IOMMU_IOAS_ALLOC: a new IO address space; returns its id. */
  allocIoas(): number {
    return this.native.vfio.ioasAlloc(this.fd);
  }
}

/**
 * Opens a VFIO device cdev (`/dev/vfio/devices/vfioX`, Linux 6.6+; a number X is accepted) and binds
 * it: with an {@link Iommufd} (then attaches it to a fresh IOAS unless `ioasId` is given), or, with
 * `iommufd: -1` (the default), in no-IOMMU mode. The device fd is usable for every other ioctl after.
 */
export function openVfioCdev(
  cdev: string | number,
  options: { iommufd?: Iommufd | number; ioasId?: number } = {},
): VfioDevice {
  const path = typeof cdev === 'number' ? `${VFIO_DEV}/devices/vfio${cdev}` : cdev;
  const device = VfioDevice.openCdev(path);
  try {
    const iommufd = options.iommufd ?? -1;
    device.bindIommufd(iommufd);
    if (iommufd !== -1) {
      const ioas =
        options.ioasId ?? loadNative().vfio.ioasAlloc(typeof iommufd === 'number' ? iommufd : iommufd.fd);
      device.attachIommufdPt(ioas);
    }
    return device;
  } catch (e) {
    device.close();
    throw e;
  }
}

/** The IOMMU group of a PCI device, from sysfs. */
export interface PciIommuGroup {
  group: number;
  /** True for a no-IOMMU group (its node is /dev/vfio/noiommu-N). */
  noiommu: boolean;
}

/** Reads `/sys/bus/pci/devices/<bdf>/iommu_group` (ENOENT with the binding help if absent). */
export function iommuGroupOf(bdf: string, sysfs = '/sys'): PciIommuGroup {
  const link = `${sysfs}/bus/pci/devices/${bdf}/iommu_group`;
  let target: string;
  try {
    target = readlinkSync(link);
  } catch (e) {
    if (!isErrnoError(e, 'ENOENT')) throw e;
    const err = new Error(
      `ENOENT: ${link} does not exist: no PCI function ${bdf} here, or it has no IOMMU group (check the ` +
        `address with \`lspci -D\`; without an IOMMU, vfio needs no-IOMMU mode). ${BIND_HELP}`,
      { cause: e },
    ) as ErrnoError;
    Object.assign(err, { code: e.code, errno: e.errno, syscall: e.syscall, path: link });
    throw err;
  }
  const group = Number(basename(target));
  let noiommu = false;
  try {
    noiommu = readFileSync(`${sysfs}/kernel/iommu_groups/${group}/name`, 'utf8').trim() === 'vfio-noiommu';
  } catch {
    // Only no-IOMMU groups have a name file on most kernels.
  }
  return { group, noiommu };
}

/** What {@link openVfioPci} opened; close `device`, then `group`, then `container`. */
export interface VfioPciHandles {
  container: VfioContainer;
  group: VfioGroup;
  device: VfioDevice;
  /** The IOMMU type set on the container. */
  iommuType: number;
}

/**
 * The legacy group/container sequence for one PCI function: find its group in sysfs, open the container
 * (checking VFIO_GET_API_VERSION), open the group, attach it, pick TYPE1v2 / TYPE1 / NOIOMMU, and get
 * the device fd. On failure everything opened is closed again.
 */
export function openVfioPci(bdf: string): VfioPciHandles {
  const { group: n, noiommu } = iommuGroupOf(bdf);
  const opened: VfioFile[] = [];
  try {
    const container = VfioContainer.open();
    opened.push(container);
    const version = container.getApiVersion();
    if (version !== VFIO.API_VERSION) {
      throw codedError(
        new Error(`VFIO API version ${version} (expected ${VFIO.API_VERSION})`),
        'ERR_VFIO_API',
      );
    }
    const group = VfioGroup.open(n, { noiommu });
    opened.push(group);
    group.setContainer(container);
    const iommuType = noiommu
      ? VFIO.NOIOMMU_IOMMU
      : container.checkExtension(VFIO.TYPE1v2_IOMMU) > 0
        ? VFIO.TYPE1v2_IOMMU
        : VFIO.TYPE1_IOMMU;
    container.setIommu(iommuType);
    const device = group.getDevice(bdf);
    return { container, group, device, iommuType };
  } catch (e) {
    for (const f of opened.reverse()) f.close();
    throw e;
  }
}

/**
 * The uapi the addon was compiled with (ioctl numbers encoded by the C compiler, struct sizes and field
 * offsets): what `@virq/core` compares its own layouts against.
 */
export function vfioUapi(): VfioUapiTable {
  return loadNative().vfio.uapi();
}
