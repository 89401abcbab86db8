#!/usr/bin/env bash
# Installs every Debian package ec needs and starts the libvirt daemons where
# no systemd runs. Idempotent: safe to run again on a machine that has it all.
set -euo pipefail

PACKAGES=(
  # control plane (ec up): Placement on SQLite or on a private MariaDB, and
  # openssl for the certificates that authenticate its clients
  etcd-server python3-placement gunicorn mariadb-server python3-mysqldb openssl
  # hypervisor: libvirt + qemu, and what @unraid/libvirt needs to build
  libvirt-daemon-system libvirt-clients libvirt-dev pkg-config
  qemu-system-x86 qemu-utils
  # disk preparation (virt-resize) and the kernel its appliance boots
  libguestfs-tools linux-image-cloud-amd64
  # guest networking, config drives, the test image
  dnsmasq-base genisoimage xorriso busybox-static syslinux extlinux syslinux-common
  # what scripts/build-test-image.sh runs besides those (none is Essential)
  e2fsprogs fdisk cpio kmod
  # the Debian cloud image (scripts/build-debian-image.sh) and ec instance ssh
  mmdebstrap openssh-client
  # small tools the scripts use
  curl ca-certificates procps iproute2
  # the zsh completion test drives a real zsh (test/helpers/zsh-complete.zsh)
  zsh
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: run as root (apt-get needs it)" >&2
  exit 77
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-system-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian's packages may try to start services through invoke-rc.d; without
  # systemd that fails harmlessly, but policy-rc.d keeps the output clean.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Without systemd nobody starts the libvirt daemons: start them ourselves.
if ! pgrep -x virtlogd >/dev/null; then virtlogd -d; fi
if ! pgrep -x libvirtd >/dev/null; then libvirtd -d; fi
for _ in $(seq 1 50); do
  virsh -c qemu:///system version >/dev/null 2>&1 && break
  sleep 0.2
done
virsh -c qemu:///system version >/dev/null
echo "install-system-deps: ok"
