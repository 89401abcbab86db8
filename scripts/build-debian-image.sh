#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) cloud image from Debian packages only, the way
# Debian's own cloud images are made of: systemd, the cloud kernel, cloud-init,
# openssh-server and ifupdown (with isc-dhcp-client), plus cloud-guest-utils
# (growpart) and sudo for cloud-init's default user.
#
#   scripts/build-debian-image.sh [OUTPUT]   (default build/debian-image/debian-12.qcow2)
#
# The disk (qcow2, 2 GiB virtual): an MBR (syslinux's mbr.bin) and one active
# ext4 partition filling the disk, labelled ec-debian, booted by extlinux with
# the console on ttyS0. cloud-init only looks for NoCloud (SMBIOS serial or a
# cidata drive) and otherwise gives up: `datasource_list: [NoCloud, None]`, so
# the guest never probes other metadata addresses.
#
# How, without loop devices: mmdebstrap builds the tree in a directory,
# mke2fs -d turns it into a filesystem in a plain file, sfdisk and dd make the
# disk. extlinux only installs onto a mounted filesystem, so the script boots
# the image's own kernel and initramfs once under qemu with init= pointing at
# a one-shot script that runs extlinux, deletes itself and stops the machine.
#
# Cached: the image is rebuilt only when the package versions apt would
# install (apt resolving them against an empty system) or this script change; the key is kept in
# OUTPUT.inputs. EC_DEBIAN_IMAGE_FORCE=1 rebuilds regardless;
# EC_DEBIAN_IMAGE_MIRROR overrides the mirror (default deb.debian.org);
# EC_DEBIAN_IMAGE_ACCEL is qemu's accelerator for the install step (tcg).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
self=$here/$(basename "${BASH_SOURCE[0]}")
repo=$(dirname "$here")
output=${1:-$repo/build/debian-image/debian-12.qcow2}
mirror=${EC_DEBIAN_IMAGE_MIRROR:-http://deb.debian.org/debian}
accel=${EC_DEBIAN_IMAGE_ACCEL:-tcg}
disk_mib=2048
part_start=2048 # sectors: the partition starts at 1 MiB
label=ec-debian
packages=(
  linux-image-cloud-amd64 systemd-sysv udev dbus
  cloud-init cloud-guest-utils openssh-server sudo
  ifupdown isc-dhcp-client iproute2 netbase
  extlinux python3 ca-certificates
)

say() { echo "build-debian-image: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in mmdebstrap mke2fs debugfs sfdisk qemu-img qemu-system-x86_64 sha256sum; do
  command -v "$tool" >/dev/null || die "no $tool on PATH (bash scripts/install-system-deps.sh)"
done
mbr=/usr/lib/syslinux/mbr/mbr.bin
[ -r "$mbr" ] || die "no $mbr (apt-get install syslinux-common)"
[ "$(id -u)" = 0 ] || die "run as root: mmdebstrap's root mode keeps the guest's file ownership"

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

include=$(IFS=,; echo "${packages[*]}")
debootstrap_args=(--variant=minbase --include="$include" bookworm)
suites=("$mirror bookworm main" "$mirror bookworm-updates main" "${mirror%/debian}/debian-security bookworm-security main")
mirror_args=()
for suite in "${suites[@]}"; do mirror_args+=("deb $suite"); done

# --- up to date? --------------------------------------------------------------
# Every package and version apt would install from the mirror (the listed
# packages and their dependencies, resolved by apt against an empty system),
# and this script.
say "resolving package versions"
mkdir -p "$work/apt/lists/partial" "$work/apt/cache"
printf 'deb %s\n' "${suites[@]}" >"$work/apt/sources.list"
: >"$work/apt/status"
apt_opts=(-q -o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$work/apt/lists" -o Dir::State::Status="$work/apt/status" -o Dir::Cache="$work/apt/cache"
  -o APT::Install-Recommends=false -o Debug::NoLocking=true)
apt-get "${apt_opts[@]}" update >/dev/null || die "apt-get update against $mirror failed"
versions=$(apt-get "${apt_opts[@]}" -s install apt "${packages[@]}" 2>/dev/null |
  sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p' | sort -u)
[ -n "$versions" ] || die "apt resolved no packages from $mirror"
inputs=$({ echo "$versions"; sha256sum "$self" "$mbr" | awk '{print $1}'; echo "disk_mib=$disk_mib"; } | sha256sum | awk '{print $1}')
if [ "${EC_DEBIAN_IMAGE_FORCE:-0}" != 1 ] && [ -s "$output" ] && [ "$(cat "$output.inputs" 2>/dev/null)" = "$inputs" ]; then
  say "$output is up to date"
  echo "$output"
  exit 0
fi

# --- the tree -----------------------------------------------------------------
say "building $output ($(echo "$versions" | wc -l) packages)"
rootfs=$work/rootfs
mmdebstrap --quiet --mode=root "${debootstrap_args[@]}" "$rootfs" "${mirror_args[@]}"

kernel=$(cd "$rootfs/boot" && ls vmlinuz-*-cloud-amd64 | sort -V | tail -n 1)
kver=${kernel#vmlinuz-}
[ -r "$rootfs/boot/initrd.img-$kver" ] || die "the image has no initramfs for $kver"

cat >"$rootfs/etc/fstab" <<EOF
LABEL=$label / ext4 rw,discard,errors=remount-ro 0 1
EOF
mkdir -p "$rootfs/boot/extlinux"
cat >"$rootfs/boot/extlinux/extlinux.conf" <<EOF
SERIAL 0 115200
DEFAULT debian
PROMPT 0
TIMEOUT 0

LABEL debian
  LINUX /boot/vmlinuz-$kver
  INITRD /boot/initrd.img-$kver
  APPEND root=LABEL=$label rw console=tty0 console=ttyS0,115200
EOF
# Only NoCloud: no probing of 169.254.169.254 or other clouds' addresses.
cat >"$rootfs/etc/cloud/cloud.cfg.d/90-ec.cfg" <<'EOF'
datasource_list: [NoCloud, None]
EOF
# Each instance gets its own identity: machine-id and host keys are made on
# first boot (systemd and cloud-init's ssh module).
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id" "$rootfs"/etc/ssh/ssh_host_*
echo localhost >"$rootfs/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
# ifupdown brings up the loopback; cloud-init writes the NIC's stanza.
cat >"$rootfs/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback

source /etc/network/interfaces.d/*
EOF
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log
# The one-shot installer the appliance boot runs as init (it removes itself).
cat >"$rootfs/ec-install-extlinux" <<'EOF'
#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
if extlinux --install /boot/extlinux >/dev/ttyS0 2>&1; then result=ok; else result=failed; fi
rm -f /ec-install-extlinux
umount /proc
mount -o remount,ro /
sync
echo "ec-install: $result" >/dev/ttyS0
echo o >/proc/sysrq-trigger 2>/dev/null
exit 0
EOF
chmod 0755 "$rootfs/ec-install-extlinux"
cp "$rootfs/boot/vmlinuz-$kver" "$rootfs/boot/initrd.img-$kver" "$work/"

# --- the filesystem and the disk ----------------------------------------------
disk=$work/disk.raw
fs=$work/rootfs.ext4
part_sectors=$((disk_mib * 2048 - part_start))
mke2fs -q -F -t ext4 -b 4096 -L "$label" -m 0 -E root_owner=0:0 -d "$rootfs" "$fs" "$((part_sectors / 2))k" >/dev/null
rm -rf "$rootfs"
# What syslinux loads must have no holes and fit the inode's own extent slots.
for file in "/boot/vmlinuz-$kver" "/boot/initrd.img-$kver"; do
  size=$(debugfs -R "stat $file" "$fs" 2>/dev/null | sed -n 's/.*Size: \([0-9]*\).*/\1/p' | head -n 1)
  extents=$(debugfs -R "stat $file" "$fs" 2>/dev/null | sed -n '/^EXTENTS:/{n;p}')
  blocks=$(debugfs -R "blocks $file" "$fs" 2>/dev/null | wc -w)
  if [ -z "$size" ] || [ "$blocks" -ne $(((size + 4095) / 4096)) ] || [[ $extents == *ETB* ]]; then
    die "$file is sparse or fragmented on the new filesystem ($blocks blocks; $extents): extlinux could not load it"
  fi
done

truncate -s "${disk_mib}M" "$disk"
sfdisk --quiet "$disk" <<EOF
label: dos
unit: sectors

start=$part_start, type=83, bootable
EOF
dd if="$mbr" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$fs" of="$disk" bs=1M seek=$((part_start / 2048)) conv=notrunc,sparse status=none
rm -f "$fs"

# --- extlinux, from the image's own kernel ----------------------------------------
say "installing extlinux (qemu, accel $accel)"
log=$work/install.log
timeout 600 qemu-system-x86_64 -accel "$accel" -m 512 -nodefaults -no-user-config -display none \
  -no-reboot -nic none -serial "file:$log" \
  -kernel "$work/vmlinuz-$kver" -initrd "$work/initrd.img-$kver" \
  -append "root=LABEL=$label rw console=ttyS0 panic=-1 init=/ec-install-extlinux" \
  -drive "file=$disk,format=raw,if=virtio" &
qemu_pid=$!
wait "$qemu_pid" || { qemu_pid=; cat "$log" >&2 2>/dev/null; die "the extlinux install boot did not finish"; }
qemu_pid=
grep -q '^ec-install: ok' "$log" || { cat "$log" >&2; die "extlinux did not install"; }

qemu-img convert -q -c -f raw -O qcow2 "$disk" "$output.tmp"
chmod 0644 "$output.tmp"
mv -f "$output.tmp" "$output"
echo "$inputs" >"$output.inputs"
say "done: $output ($(du -h "$output" | cut -f1) on disk, ${disk_mib} MiB virtual, kernel $kver)"
echo "$output"
