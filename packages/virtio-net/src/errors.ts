/**
 * The one error class of @virq/virtio-net. Every failure carries a stable `code` (prefix `ERR_VIRQ_VIRTIO_`, the `ERR_VIRQ_` family every virq package uses for errors that are not a syscall's errno),
 * so a caller branches on the code, never on the message.
 */

/** Stable codes of {@link VirtioNetError}. */
export type VirtioNetErrorCode =
  /** An argument is out of range or malformed. */
  | 'ERR_VIRQ_VIRTIO_INVAL'
  /** Not a modern virtio-net PCI function, or a required capability is missing or points outside its BAR. */
  | 'ERR_VIRQ_VIRTIO_NODEV'
  /** The device lacks a feature this driver requires (VERSION_1, ACCESS_PLATFORM, MAC, MQ, CTRL_VQ). */
  | 'ERR_VIRQ_VIRTIO_FEATURE'
  /** The device cleared FEATURES_OK, set DEVICE_NEEDS_RESET, or did not reset. */
  | 'ERR_VIRQ_VIRTIO_STATUS'
  /** The device answered VIRTIO_MSI_NO_VECTOR for a vector the driver assigned (§4.1.5.1.2). */
  | 'ERR_VIRQ_VIRTIO_VECTOR'
  /** A control-queue command was answered VIRTIO_NET_ERR, or not at all within its timeout. */
  | 'ERR_VIRQ_VIRTIO_CTRL'
  /** A queue the device offers is too small, or too large for the driver's 16-bit ids. */
  | 'ERR_VIRQ_VIRTIO_QUEUE'
  /** The driver is not in a state that allows the call (not started, already stopped). */
  | 'ERR_VIRQ_VIRTIO_STATE'
  /** The device returned a used element that names no buffer in flight (a broken device or ring). */
  | 'ERR_VIRQ_VIRTIO_RING';

/** Error with a stable {@link VirtioNetErrorCode}. */
export class VirtioNetError extends Error {
  /** Stable code, see {@link VirtioNetErrorCode}. */
  readonly code: VirtioNetErrorCode;

  constructor(code: VirtioNetErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(`${code}: ${message}`, options);
    this.name = 'VirtioNetError';
    this.code = code;
  }
}
