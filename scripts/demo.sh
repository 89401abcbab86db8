#!/usr/bin/env bash
# The main job on one machine: a control plane (ec up), one compute agent, a
# real VM (the test image, built from Debian packages) booted under qemu with
# live progress, its console, the instance listed, shown and deleted.
# EC_DEMO_LIBVIRT_URI=test:///default runs the same flow on libvirt's test
# driver (no guest runs, no metadata).
#
# It runs again and again on one machine, beside an `ec up` of your own: its
# control plane and metadata server listen on free loopback ports, everything
# lives in one temporary directory (under $TMPDIR), and on any exit it deletes
# the instance and stops the agent, etcd and Placement it started.
set -euo pipefail
cd "$(dirname "$0")/.."
ec() { ./bin/run.js "$@"; }
uri=${EC_DEMO_LIBVIRT_URI:-qemu:///system}
# A port nothing listens on now (the kernel picks it; bind and release).
free_port() { node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })'; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ec-demo.XXXXXX")
chmod 0755 "$work" # the system libvirtd's qemu (libvirt-qemu) reads the image and disks here
image="$work/ec-test.qcow2"
cp "$(bash scripts/build-test-image.sh)" "$image"
if [ "$uri" = "test:///default" ]; then metadata=none; else metadata=mdserver; fi
cat > "$work/ec.config.yaml" <<YAML
stateDir: $work/state
controlPlane: {etcd: {clientPort: $(free_port), peerPort: $(free_port)}, placement: {port: $(free_port)}}
backends: {metadata: $metadata}
libvirt: {uri: "$uri", instancesDir: $work/instances, imageCacheDir: $work/images}
metadata: {dataDir: $work/metadata, port: $(free_port)}
images:
  demo: {path: $image}
YAML
export EC_CONFIG="$work/ec.config.yaml"
printf '#!/bin/sh\necho "hello from user-data on $(hostname)"\n' > "$work/user-data"

agent_pid=
cleanup() {
  # After a failure web1 may still run: delete it while its agent is there to tear it down.
  if [ -n "$agent_pid" ]; then
    ec instance delete web1 >/dev/null 2>&1 || true
    kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  fi
  ec down --purge >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that cleanup runs on an interrupt too

ec up
# The agent is node itself, not the ec function in a subshell, so that $! is
# the process cleanup must stop (with the function, $! was the subshell and
# the agent and its metadata server outlived the demo).
./bin/run.js compute start --name demo-host > "$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 100); do grep -q 'is schedulable' "$work/agent.log" 2>/dev/null && break; sleep 0.2; done
ec host list
ec instance create web1 --vcpus 1 --memory 256 --disk 1 --image demo --user-data "$work/user-data" --meta role=demo --wait
ec instance list
ec instance show web1
echo "--- the guest's serial console:"
ec instance console web1
ec instance delete web1
echo "--- demo finished; the agent's log:"
cat "$work/agent.log"
