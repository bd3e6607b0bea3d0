#!/usr/bin/env bash
# virq's VM harness: boots Debian 12's own kernel under QEMU (TCG) with an emulated IOMMU, QEMU's
# `edu` (INTx + MSI) and `e1000e` (MSI-X, 5 vectors) bound to the real vfio-pci driver, and runs a
# plan of guest jobs whose JSON-lines output comes back through a shared folder.
#
#   vm.sh setup               install the host packages it needs (root; apt-get update only on a miss)
#   vm.sh kernel              apt-get download + dpkg -x Debian's kernel package (never installed)
#   vm.sh initramfs           busybox + vfio/9p modules + guest/init, cached by a hash of its inputs
#   vm.sh runner              the static C runner (guest/irqrun.c), cached by a hash of its source
#   vm.sh prepare             all of the above; writes $WORK/current-<kernel>.env
#   vm.sh boot RUNDIR         boot once; the guest runs RUNDIR/jobs.txt, RUNDIR/out gets results
#   vm.sh run                 prepare + boot with guest/default-jobs.txt (probe + C end-to-end checks)
#   vm.sh clean               remove $WORK
#
# Environment: VIRQ_VM_KERNEL (which kernel: 6.1 = Debian 12's own, the default, or 6.12 = Debian 12's
# linux-image-6.12-amd64), VIRQ_VM_WORK (cache dir, default /tmp/virq-vm), VIRQ_VM_TIMEOUT (s, default
# 330), VIRQ_VM_SMP (default 1), VIRQ_VM_MEM (MiB, default 1024), VIRQ_VM_KPKG (kernel package override),
# VIRQ_VM_IOMMU (the -device for the IOMMU), VIRQ_VM_APPEND (extra kernel command line),
# VIRQ_VM_NIC (1: the NIC part below, the default; 0: no NICs), VIRQ_VM_NIC_QUEUES (default 128).
# Each kernel has its own cache entries (the .deb and its tree by package version, the initramfs by a
# hash) and its own $WORK/current-<kernel>.env, so the two can be prepared once and booted side by side.
# Every step prints `vm.sh: <step> <seconds>s` on stderr.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=${VIRQ_VM_WORK:-/tmp/virq-vm}
TIMEOUT=${VIRQ_VM_TIMEOUT:-330}
SMP=${VIRQ_VM_SMP:-1}
MEM=${VIRQ_VM_MEM:-1024}
KERNEL=${VIRQ_VM_KERNEL:-6.1}
HOST_PKGS=(qemu-system-x86 busybox-static cpio gcc libc6-dev iproute2)

log() { echo "vm.sh: $*" >&2; }
die() {
  echo "vm.sh: FAILED: $*" >&2
  exit 1
}
now() { date +%s.%N; }
# step NAME CMD...: run and time one step.
# Called as a plain command so that errexit stays active inside (it is off in a `cmd || ...` context).
step() {
  local name=$1 t0
  shift
  t0=$(now)
  "$@"
  log "$name $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')s"
}

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    die "need root to run: $* (run vm.sh setup as root once)"
  fi
}

# Every apt-get this script runs holds this lock: the two kernels prepare side by side, and an
# apt-get update of one must not meet the other's (apt would fail on its lists lock).
APT_LOCK=${VIRQ_APT_LOCK:-/tmp/virq-apt.lock}
apt_locked() { (flock 8 && "$@") 8>"$APT_LOCK"; }

apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  log "apt-get update"
  apt_locked as_root apt-get update -qq || die "apt-get update failed"
  apt_updated=1
}

# apt_try CMD...: run an apt command; on failure refresh the package lists once and retry. Stale lists
# are the usual cause (a kernel ABI bump removes the old .deb from the mirror).
apt_try() {
  if ! apt_locked "$@"; then
    apt_update
    apt_locked "$@"
  fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

cmd_setup() {
  local missing=() p
  for p in "${HOST_PKGS[@]}"; do installed "$p" || missing+=("$p"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    # No recommends: qemu-system-x86 would pull a GUI stack and firmware we never use.
    apt_try as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
  fi
  command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found after install"
  [ -x /bin/busybox ] || die "/bin/busybox (busybox-static) not found after install"
}

# The meta package that names each kernel: Debian 12's default (6.1.y) and its 6.12.y LTS (in bookworm
# main since 12.11, for newer hardware).
kernel_meta() {
  case "$KERNEL" in
  6.1) echo linux-image-amd64 ;;
  6.12) echo linux-image-6.12-amd64 ;;
  *) die "VIRQ_VM_KERNEL=$KERNEL: not a known kernel (6.1 or 6.12)" ;;
  esac
}

# The kernel package the meta package depends on, e.g. linux-image-6.1.0-50-amd64 or
# linux-image-6.12.117+deb12-amd64.
kernel_pkg() {
  if [ -n "${VIRQ_VM_KPKG:-}" ]; then
    echo "$VIRQ_VM_KPKG"
    return
  fi
  local p meta
  meta=$(kernel_meta)
  p=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  if [ -z "$p" ]; then
    apt_update >&2
    p=$(apt-cache depends "$meta" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  fi
  [ -n "$p" ] || die "cannot resolve the kernel package $meta depends on"
  echo "$p"
}

# Sets KDIR (unpacked package), KVER (uname -r of the guest) and KDEB (.deb file name).
cmd_kernel() {
  local pkg deb
  pkg=$(kernel_pkg)
  mkdir -p "$WORK/debs" "$WORK/kernel"
  # The package name carries the ABI (6.1.0-50) or the upstream version (6.12.117+deb12); the cached
  # .deb (name_version_arch) is reused for as long as the meta package names the same package.
  deb=$(ls "$WORK/debs/${pkg}"_*.deb 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$deb" ]; then
    log "apt-get download $pkg"
    # As root, apt would drop to the _apt user for the download and warn that it cannot write here.
    local sandbox=()
    [ "$(id -u)" = 0 ] && sandbox=(-o APT::Sandbox::User=root)
    (cd "$WORK/debs" && apt_try apt-get download -q "${sandbox[@]}" "$pkg" >/dev/null) ||
      die "apt-get download $pkg failed"
    deb=$(ls "$WORK/debs/${pkg}"_*.deb | sort -V | tail -1)
  fi
  KDEB=$(basename "$deb" .deb)
  KDIR="$WORK/kernel/$KDEB"
  if [ ! -f "$KDIR/.done" ]; then
    rm -rf "$KDIR.tmp"
    dpkg -x "$deb" "$KDIR.tmp" || die "dpkg -x $deb failed"
    rm -rf "$KDIR"
    mv "$KDIR.tmp" "$KDIR"
    touch "$KDIR/.done"
  fi
  KVER=$(ls "$KDIR/lib/modules" | head -1)
  [ -f "$KDIR/boot/vmlinuz-$KVER" ] || die "no vmlinuz in $deb"
}

# Copies module $1 (and, first, what it depends on) into $R/lib/modules, decompressed, and appends it to
# ORDER. Module names use either spelling (vfio-pci / vfio_pci); built-in modules are skipped.
declare -A MOD_DONE=()
ORDER=()
add_mod() {
  local name=$1 f deps d alt
  [ -n "${MOD_DONE[$name]:-}" ] && return 0
  MOD_DONE[$name]=1
  f=$(find "$MODROOT" -name "$name.ko*" | head -1)
  if [ -z "$f" ]; then
    alt=${name//_/-}
    [ "$alt" = "$name" ] && alt=${name//-/_}
    f=$(find "$MODROOT" -name "$alt.ko*" | head -1)
  fi
  if [ -z "$f" ]; then
    grep -qE "/($name|${name//_/-}|${name//-/_})\.ko" "$KDIR/lib/modules/$KVER/modules.builtin" 2>/dev/null ||
      log "module $name neither a file nor built in (assuming built in)"
    return 0
  fi
  case "$f" in
  *.xz) xz -dc "$f" ;;
  *.zst) zstd -qdc "$f" ;;
  *.gz) gzip -dc "$f" ;;
  *) cat "$f" ;;
  esac >"$R/lib/modules/$name.ko"
  deps=$(tr '\0' '\n' <"$R/lib/modules/$name.ko" | sed -n 's/^depends=//p' | head -1)
  for d in ${deps//,/ }; do add_mod "$d"; done
  ORDER+=("$name")
}

# The initramfs holds only busybox, the modules and /init: node, the project and the C runner come
# from the host over 9p (see README.md), so it changes only with the kernel or guest/init.
cmd_initramfs() {
  [ -n "${KDIR:-}" ] || cmd_kernel
  local key out
  key=$( (echo "$KDEB"; cat "$HERE/guest/init"; sha256sum /bin/busybox; sed -n '/^cmd_initramfs/,/^}/p' "$0") | sha256sum | cut -c1-16)
  out="$WORK/initramfs/$key.cpio.gz"
  INITRD=$out
  [ -f "$out" ] && return 0
  mkdir -p "$WORK/initramfs"
  R="$WORK/initramfs/$key.root"
  rm -rf "$R"
  mkdir -p "$R"/{bin,dev,proc,sys,tmp,host,lib/modules}
  cp /bin/busybox "$R/bin/busybox"
  cp "$HERE/guest/init" "$R/init"
  chmod +x "$R/init"
  MODROOT="$KDIR/lib/modules/$KVER/kernel"
  local m mods=(vfio vfio_iommu_type1 vfio_virqfd vfio-pci virtio_pci 9pnet_virtio 9p)
  # iommufd (/dev/iommu) and the VFIO device cdev (/dev/vfio/devices/vfioN) where the kernel has them:
  # CONFIG_IOMMUFD=m adds the module, CONFIG_VFIO_DEVICE_CDEV is a bool inside vfio.ko. Debian 12
  # builds neither, in 6.1 or in 6.12 (`# CONFIG_IOMMUFD is not set` in both config files), so today
  # this adds nothing; the guest logs which of the two nodes exist.
  grep -q '^CONFIG_IOMMUFD=m' "$KDIR/boot/config-$KVER" && mods+=(iommufd)
  for m in "${mods[@]}"; do add_mod "$m"; done
  printf '%s\n' "${ORDER[@]}" >"$R/lib/modules/load-order"
  # NIC part: virtio_net is loaded by /init only after virq's NIC is on vfio-pci (see nic_qemu_args).
  ORDER=()
  add_mod virtio_net
  printf '%s\n' "${ORDER[@]}" >"$R/lib/modules/load-late"
  log "modules for $KVER: ${ORDER[*]}"
  (cd "$R" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$out.tmp"
  mv "$out.tmp" "$out"
  rm -rf "$R"
}

cmd_runner() {
  local key out
  key=$( (cat "$HERE/guest/irqrun.c"; gcc --version | head -1; cat /usr/include/linux/vfio.h) | sha256sum | cut -c1-16)
  out="$WORK/bin/irqrun-$key"
  RUNNER=$out
  [ -x "$out" ] && return 0
  mkdir -p "$WORK/bin"
  gcc -static -O2 -Wall -Wextra -Werror -o "$out.tmp" "$HERE/guest/irqrun.c" || die "building guest/irqrun.c failed"
  mv "$out.tmp" "$out"
}

# The host packages and the C runner are shared by every kernel (one lock); each kernel's .deb, tree
# and initramfs have a lock of their own, so two kernels' cold downloads and unpacks run side by side.
cmd_prepare() {
  mkdir -p "$WORK"
  exec 9>"$WORK/.lock"
  flock 9
  step setup cmd_setup
  step runner cmd_runner
  step injector cmd_injector
  exec 9>&-
  exec 9>"$WORK/.lock-$KERNEL"
  flock 9
  step kernel cmd_kernel
  step initramfs cmd_initramfs
  cat >"$WORK/current-$KERNEL.env.tmp" <<EOF
KERNEL=$KERNEL
KERNEL_PKG=$KDEB
KERNEL_VERSION=$KVER
VMLINUZ=$KDIR/boot/vmlinuz-$KVER
INITRD=$INITRD
RUNNER=$RUNNER
INJECTOR=$INJECTOR
EOF
  mv "$WORK/current-$KERNEL.env.tmp" "$WORK/current-$KERNEL.env"
  exec 9>&-
}

# ---------------------------------------------------------------------------------------------------
# NIC part (issue 11, virtio-net): two virtio-net-pci devices on multi-queue taps in a network namespace
# this boot creates, and the host-side frame injector (host/inject.c) running in it beside QEMU.
#   00:10.0  virq's NIC: disable-legacy, iommu_platform, mq, $NIC_QUEUES queue pairs, 2N+2 vectors; vfio-pci
#   00:11.0  the kernel's NIC (the bench's baseline): one queue pair, bound to the guest's virtio_net
# Frames go only to the guest, through these taps: they have no address, IPv6 is off in the namespace,
# and the injector writes to the guest's MAC only. The namespace (and the taps in it) goes with the boot.
NIC=${VIRQ_VM_NIC:-1}
NIC_QUEUES=${VIRQ_VM_NIC_QUEUES:-128}
NIC_NS=""
NIC_INJECT_PID=""

cmd_injector() {
  local key out
  key=$( (cat "$HERE/host/inject.c"; gcc --version | head -1) | sha256sum | cut -c1-16)
  out="$WORK/bin/inject-$key"
  INJECTOR=$out
  [ -x "$out" ] && return 0
  mkdir -p "$WORK/bin"
  gcc -O2 -Wall -Wextra -Werror -o "$out.tmp" "$HERE/host/inject.c" || die "building host/inject.c failed"
  mv "$out.tmp" "$out"
}

# nic_up RUNDIR: the namespace, its taps and the injector (serving RUNDIR/nic). Sets NIC_EXEC.
NIC_EXEC=()
nic_up() {
  [ "$NIC" = 1 ] || return 0
  [ -x "${INJECTOR:-}" ] || die "no injector: run vm.sh prepare"
  NIC_NS="virq-nic-$$"
  as_root ip netns add "$NIC_NS" || die "ip netns add $NIC_NS failed (the NIC part needs root)"
  # A command list, not as_root: timeout(1) runs QEMU through it.
  local x=(ip netns exec "$NIC_NS")
  [ "$(id -u)" = 0 ] || x=(sudo -n "${x[@]}")
  # IPv6 off before the taps exist, so they never send a router solicitation or DAD probe.
  "${x[@]}" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6; echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6' 2>/dev/null || true
  "${x[@]}" ip tuntap add dev vqnic0 mode tap multi_queue || die "ip tuntap add vqnic0 failed"
  "${x[@]}" ip tuntap add dev vqnic1 mode tap || die "ip tuntap add vqnic1 failed"
  "${x[@]}" ip link set vqnic0 up
  "${x[@]}" ip link set vqnic1 up
  rm -rf "$1/nic"
  mkdir -p "$1/nic"
  "${x[@]}" "$INJECTOR" serve "$1/nic" >"$1/nic/inject.log" 2>&1 &
  NIC_INJECT_PID=$!
  NIC_EXEC=("${x[@]}")
}

# Idempotent (also the EXIT trap, so a failed boot leaves no namespace behind).
nic_down() {
  if [ -n "$NIC_INJECT_PID" ]; then
    kill "$NIC_INJECT_PID" 2>/dev/null || true
    wait "$NIC_INJECT_PID" 2>/dev/null || true
    NIC_INJECT_PID=""
  fi
  if [ -n "$NIC_NS" ]; then
    as_root ip netns del "$NIC_NS" 2>/dev/null || log "ip netns del $NIC_NS failed"
    NIC_NS=""
  fi
}

# The QEMU arguments of the two NICs (none with VIRQ_VM_NIC=0).
nic_qemu_args() {
  [ "$NIC" = 1 ] || return 0
  echo "-netdev tap,id=vqn0,ifname=vqnic0,script=no,downscript=no,queues=$NIC_QUEUES,vhost=off" \
    "-device virtio-net-pci,netdev=vqn0,addr=0x10,disable-legacy=on,iommu_platform=on,mq=on,vectors=$((2 * NIC_QUEUES + 2)),mac=52:54:00:76:71:01,romfile=" \
    "-netdev tap,id=vqn1,ifname=vqnic1,script=no,downscript=no,queues=1,vhost=off" \
    "-device virtio-net-pci,netdev=vqn1,addr=0x11,disable-legacy=on,iommu_platform=on,mac=52:54:00:76:71:02,romfile="
}
# --------------------------------------------------------------------------------- end of the NIC part

# boot RUNDIR: RUNDIR must hold jobs.txt (see guest/plan.sh). The guest sees RUNDIR at its host path,
# runs the jobs in a chroot into the host's root and writes RUNDIR/out/*; the console goes to
# RUNDIR/console.log.
cmd_boot() {
  local run=${1:?usage: vm.sh boot RUNDIR}
  run=$(cd "$run" && pwd)
  [ -f "$WORK/current-$KERNEL.env" ] || die "run VIRQ_VM_KERNEL=$KERNEL vm.sh prepare first"
  # shellcheck disable=SC1090
  . "$WORK/current-$KERNEL.env"
  [ -f "$run/jobs.txt" ] || die "$run/jobs.txt missing"
  rm -rf "$run/out"
  mkdir -p "$run/out"
  cp "$HERE/guest/plan.sh" "$run/plan.sh"
  cp "$RUNNER" "$run/irqrun"
  local rc=0
  trap nic_down EXIT
  nic_up "$run"
  # shellcheck disable=SC2046 # nic_qemu_args is a list of words
  # -nodefaults: no VGA/NIC/monitor; e1000e,romfile=: no iPXE ROM (not needed, and ipxe-qemu may be absent).
  timeout --kill-after=5 "$TIMEOUT" "${NIC_EXEC[@]}" qemu-system-x86_64 \
    -machine q35 -accel tcg -cpu max -smp "$SMP" -m "$MEM" \
    -device "${VIRQ_VM_IOMMU:-intel-iommu,intremap=on}" \
    -device edu -device e1000e,romfile= $(nic_qemu_args) \
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
    -virtfs "local,path=$run,mount_tag=virqrun,security_model=none,multidevs=remap" \
    -kernel "$VMLINUZ" -initrd "$INITRD" \
    -append "console=ttyS0 intel_iommu=on panic=-1 loglevel=4 quiet virq_rundir=$run ${VIRQ_VM_APPEND:-}" \
    -nographic -no-reboot -nodefaults -serial stdio </dev/null >"$run/console.log" 2>&1 || rc=$?
  nic_down
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "vm.sh: guest timed out after ${TIMEOUT}s" >>"$run/console.log"
    die "guest timed out after ${TIMEOUT}s (console: $run/console.log)"
  fi
  [ "$rc" = 0 ] || die "qemu exited with $rc (console: $run/console.log): $(tail -3 "$run/console.log" | tr '\n' ' ')"
  grep -aq 'VIRQVM_EXIT=' "$run/console.log" || die "guest ended without an exit marker (console: $run/console.log)"
}

cmd_run() {
  cmd_prepare
  local run="$WORK/runs/manual-$KERNEL-$$"
  rm -rf "$run"
  mkdir -p "$run"
  cp "$HERE/guest/default-jobs.txt" "$run/jobs.txt"
  step boot cmd_boot "$run"
  cat "$run/console.log"
  echo "results in $run/out:"
  ls -l "$run/out"
  grep -aq 'VIRQVM_EXIT=0' "$run/console.log"
}

case "${1:-}" in
setup) step setup cmd_setup ;;
kernel)
  step kernel cmd_kernel
  echo "$KDIR"
  ;;
initramfs)
  step initramfs cmd_initramfs
  echo "$INITRD"
  ;;
runner)
  step runner cmd_runner
  echo "$RUNNER"
  ;;
prepare)
  cmd_prepare
  cat "$WORK/current-$KERNEL.env"
  ;;
boot)
  shift
  step boot cmd_boot "$@"
  ;;
run) cmd_run ;;
clean) rm -rf "$WORK" ;;
*)
  sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
