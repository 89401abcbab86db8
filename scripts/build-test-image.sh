#!/usr/bin/env bash
# Builds ec's test image: a small bootable "cloud" disk made only from Debian
# packages already on this machine (linux-image-cloud-amd64, busybox-static,
# extlinux/syslinux-common, e2fsprogs, fdisk, qemu-utils, qemu-system-x86).
#
#   scripts/build-test-image.sh [OUTPUT]      (default build/test-image/ec-test.qcow2)
#
# The disk (qcow2, 256 MiB virtual): an MBR (syslinux's mbr.bin) and one
# active partition filling the disk (so `virt-resize --expand /dev/sda1` can
# grow it), ext4 labelled ec-root, booted by extlinux. On it: the cloud kernel,
# an initramfs with busybox and the modules the guest needs (virtio disk and
# NIC, SCSI/ATA cdrom, iso9660), and a busybox root whose /sbin/init is
# scripts/test-image/init.
#
# How, without loop devices or mount rights: mke2fs -d fills the filesystem
# from a directory into a plain file; sfdisk writes the partition table into
# the disk file; dd puts mbr.bin and the filesystem in place. extlinux only
# installs onto a mounted filesystem, so the script boots a throwaway
# appliance once - this same kernel with an initramfs holding extlinux - under
# qemu with the disk attached, and the appliance mounts the partition and runs
# extlinux (2-3 s under TCG; libguestfs's appliance does the same job in
# 9 s, 23 s on its first run). Then qemu-img converts the disk to qcow2.
#
# Idempotent: the output is rebuilt only when an input changed (a hash of
# everything that goes into the image is kept in OUTPUT.inputs).
#
# Environment: EC_TEST_IMAGE_KERNEL (a kernel version in /lib/modules; default
# the newest *-cloud-amd64), EC_TEST_IMAGE_ACCEL (qemu accelerator for the
# appliance; default tcg), EC_TEST_IMAGE_FORCE=1 (rebuild regardless).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self=$here/$(basename "${BASH_SOURCE[0]}")
repo=$(dirname "$here")
src="$here/test-image"
output=${1:-$repo/build/test-image/ec-test.qcow2}
disk_mib=256
part_start=2048 # sectors: the partition starts at 1 MiB
accel=${EC_TEST_IMAGE_ACCEL:-tcg}

say() { echo "build-test-image: $*" >&2; }
die() { say "$*"; exit 1; }

# --- inputs -------------------------------------------------------------------
kver=${EC_TEST_IMAGE_KERNEL:-}
if [ -z "$kver" ]; then
  kver=$(find /lib/modules -mindepth 1 -maxdepth 1 -name '*-cloud-amd64' -printf '%f\n' | sort -V | tail -n 1)
fi
[ -n "$kver" ] || die "no *-cloud-amd64 kernel in /lib/modules (apt-get install linux-image-cloud-amd64)"
kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] || die "$kernel is missing or unreadable"
busybox=/bin/busybox
[ -x "$busybox" ] || die "no $busybox (apt-get install busybox-static)"
# The guest has no C library: busybox must be the static build.
! ldd "$busybox" >/dev/null 2>&1 || die "$busybox is linked dynamically (apt-get install busybox-static)"
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -r "$mbr" ] || die "no $mbr (apt-get install syslinux-common)"
extlinux=$(command -v extlinux) || die "no extlinux (apt-get install extlinux)"
for tool in mke2fs debugfs sfdisk qemu-img qemu-system-x86_64 depmod modprobe cpio gzip sha256sum; do
  command -v "$tool" >/dev/null || die "no $tool on PATH"
done

# Modules the guest loads in this order (their dependencies come along). The
# cloud kernel builds ext4, af_packet (udhcpc's raw socket), the 8250 serial
# port and DMI in; it has no AHCI driver, so a SATA cdrom stays invisible.
modules=(
  virtio_pci   # the virtio PCI transport (pulls virtio, virtio_ring)
  virtio_blk   # the root disk, vda
  virtio_net   # eth0
  virtio_scsi  # disks and cdroms on virtio-scsi
  ata_piix     # IDE disks and cdroms on the i440fx machine type
  sr_mod       # SCSI cdroms: sr0 (pulls cdrom, scsi_mod)
  isofs        # iso9660, the NoCloud config drive
)

outdir=$(dirname "$output")
mkdir -p "$outdir"
output=$(cd "$outdir" && pwd)/$(basename "$output")
work=$(mktemp -d "$output.build.XXXXXX")
qemu_pid=
cleanup() {
  [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# --- stage the trees ----------------------------------------------------------
# busybox and a link per applet, in the places busybox itself lists.
install_busybox() {
  local root=$1 applet
  install -D -m 0755 "$busybox" "$root/bin/busybox"
  for applet in $("$busybox" --list-full); do
    [ -e "$root/$applet" ] || { mkdir -p "$root/$(dirname "$applet")"; ln -s /bin/busybox "$root/$applet"; }
  done
}

# The listed modules and their dependencies, with a modules.dep from depmod.
install_modules() {
  local root=$1 module path
  mkdir -p "$root/lib/modules/$kver"
  for module in "${modules[@]}"; do
    modprobe -S "$kver" --show-depends "$module" | while read -r kind path _; do
      [ "$kind" = insmod ] || continue
      install -D -m 0644 "$path" "$root${path}"
    done
  done
  for path in modules.builtin modules.builtin.modinfo modules.order; do
    [ -e "/lib/modules/$kver/$path" ] && cp "/lib/modules/$kver/$path" "$root/lib/modules/$kver/"
  done
  # The kernel's copy lives under /lib or /usr/lib (merged /usr): keep the
  # guest's at /lib/modules either way.
  if [ -d "$root/usr/lib/modules" ]; then
    cp -a "$root/usr/lib/modules/." "$root/lib/modules/"
    rm -rf "$root/usr/lib/modules"
  fi
  depmod -b "$root" "$kver"
  printf '%s\n' "${modules[@]}" >"$root/etc/modules"
}

# The initramfs: busybox, the modules, stage 1.
initramfs=$work/initramfs
mkdir -p "$initramfs"/{dev,proc,sys,etc,newroot}
install_busybox "$initramfs"
install_modules "$initramfs"
rm -f "$initramfs/init"
install -m 0755 "$src/initramfs-init" "$initramfs/init"

# The root filesystem: busybox, the same modules (for modprobe later), init,
# the udhcpc script, the kernel and extlinux's configuration.
rootfs=$work/rootfs
mkdir -p "$rootfs"/{boot/extlinux,dev,proc,sys,run,tmp,root,etc/udhcpc,var/log,mnt}
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"
install_busybox "$rootfs"
install_modules "$rootfs"
rm -f "$rootfs/sbin/init"
install -m 0755 "$src/init" "$rootfs/sbin/init"
install -m 0755 "$src/udhcpc.script" "$rootfs/etc/udhcpc/default.script"
install -m 0644 "$src/extlinux.conf" "$rootfs/boot/extlinux/extlinux.conf"
install -m 0644 "$kernel" "$rootfs/boot/vmlinuz"
echo ec-test >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n' >"$rootfs/etc/hosts"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"
: >"$rootfs/etc/resolv.conf"

# --- up to date? --------------------------------------------------------------
# Everything that goes into the image, plus this script, the appliance's init
# and the tools whose output lands on the disk.
inputs=$(
  cd "$work"
  {
    find initramfs rootfs -type f -print0 | sort -z | xargs -0 -r sha256sum
    find initramfs rootfs -printf '%p %y %m %l\n' | sort
    sha256sum "$self" "$src/install-init" "$mbr" "$extlinux" | awk '{print $1}'
    echo "disk_mib=$disk_mib part_start=$part_start"
  } | sha256sum | awk '{print $1}'
)
if [ "${EC_TEST_IMAGE_FORCE:-0}" != 1 ] && [ -s "$output" ] && [ "$(cat "$output.inputs" 2>/dev/null)" = "$inputs" ]; then
  say "$output is up to date"
  echo "$output"
  exit 0
fi

say "building $output (kernel $kver)"
(cd "$initramfs" && find . -print0 | sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -6 -n >"$rootfs/boot/initrd.img"

# --- the filesystem and the disk ----------------------------------------------
disk=$work/disk.raw
fs=$work/rootfs.ext4
part_sectors=$((disk_mib * 2048 - part_start))
# Fixed UUID and hash seed: rebuilding the same inputs gives the same filesystem
# metadata. mke2fs -d copies the tree; -E root_owner makes / owned by root.
# 4 KiB blocks: mke2fs picks 1 KiB for a filesystem this small, and -d leaves
# every all-zero block of a file out (a hole); syslinux's ext4 reader fails on
# the kernel it then gets ("Loading /boot/vmlinuz failed: I/O error").
mke2fs -q -F -t ext4 -b 4096 -L ec-root -m 0 \
  -U 6a1f6d1e-5e3c-4c43-9a3b-ec7e57000001 -E root_owner=0:0,hash_seed=6a1f6d1e-5e3c-4c43-9a3b-ec7e57000002 \
  -d "$rootfs" "$fs" "$((part_sectors / 2))k" >/dev/null
# What syslinux loads must have no holes and fit the inode's own extent slots.
for file in /boot/vmlinuz /boot/initrd.img; do
  size=$(stat -c %s "$rootfs$file")
  extents=$(debugfs -R "stat $file" "$fs" 2>/dev/null | sed -n '/^EXTENTS:/{n;p}')
  blocks=$(debugfs -R "blocks $file" "$fs" 2>/dev/null | wc -w)
  if [ "$blocks" -ne $(((size + 4095) / 4096)) ] || [[ $extents == *ETB* ]]; then
    die "$file is sparse or fragmented on the new filesystem ($blocks blocks; $extents): extlinux could not load it"
  fi
done

truncate -s "${disk_mib}M" "$disk"
sfdisk --quiet "$disk" <<EOF
label: dos
label-id: 0xec7e5700
unit: sectors

start=$part_start, type=83, bootable
EOF
# syslinux's MBR code: the boot code area only (440 bytes), not the table.
dd if="$mbr" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$fs" of="$disk" bs=1M seek=$((part_start / 2048)) conv=notrunc,sparse status=none
rm -f "$fs"

# --- extlinux, from inside a throwaway appliance --------------------------------
appliance=$work/appliance
mkdir -p "$appliance"
install -D -m 0755 "$extlinux" "$appliance/usr/bin/extlinux"
# extlinux is linked dynamically: bring its libraries and loader.
ldd "$extlinux" | grep -o '/[^ ]*' | while read -r lib; do
  install -D -m 0755 "$(readlink -f "$lib")" "$appliance$lib"
done
install -m 0755 "$src/install-init" "$appliance/init"
# The kernel unpacks concatenated archives in order: the appliance's /init
# replaces stage 1.
cp "$rootfs/boot/initrd.img" "$work/appliance.img"
(cd "$appliance" && find . -print0 | sort -z | cpio --null -o -H newc --quiet -R 0:0) | gzip -1 >>"$work/appliance.img"

say "installing extlinux (qemu appliance, accel $accel)"
log=$work/appliance.log
timeout 300 qemu-system-x86_64 -accel "$accel" -m 256 -nodefaults -no-user-config -display none \
  -no-reboot -nic none -serial "file:$log" \
  -kernel "$kernel" -initrd "$work/appliance.img" -append "console=ttyS0 panic=-1 quiet" \
  -drive "file=$disk,format=raw,if=virtio" &
qemu_pid=$!
wait "$qemu_pid" || { qemu_pid=; cat "$log" >&2 2>/dev/null; die "the extlinux appliance did not finish"; }
qemu_pid=
grep -q '^ec-install: ok' "$log" || { cat "$log" >&2; die "extlinux did not install"; }

# --- qcow2 --------------------------------------------------------------------
qemu-img convert -q -f raw -O qcow2 "$disk" "$output.tmp"
chmod 0644 "$output.tmp"
mv -f "$output.tmp" "$output"
echo "$inputs" >"$output.inputs"
say "done: $output ($(du -h "$output" | cut -f1) on disk, ${disk_mib} MiB virtual)"
echo "$output"
