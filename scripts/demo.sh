#!/usr/bin/env bash
# The main job on one machine: a control plane (ec up), one compute agent,
# an instance created with live progress, listed, shown and deleted.
# The agent uses libvirt's test:///default driver until real guests boot
# (EC_DEMO_LIBVIRT_URI=qemu:///system to try the real hypervisor).
set -euo pipefail
cd "$(dirname "$0")/.."
ec() { ./bin/run.js "$@"; }

work=$(mktemp -d /tmp/ec-demo.XXXXXX)
qemu-img create -q -f qcow2 "$work/demo.qcow2" 1G
cat > "$work/ec.config.yaml" <<YAML
stateDir: $work/state
backends: {metadata: none}
libvirt: {uri: "${EC_DEMO_LIBVIRT_URI:-test:///default}"}
images:
  demo: {path: $work/demo.qcow2}
YAML
export EC_CONFIG="$work/ec.config.yaml"

agent_pid=
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  ec down --purge >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ec up
ec compute start --name demo-host > "$work/agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 1 100); do grep -q 'is schedulable' "$work/agent.log" 2>/dev/null && break; sleep 0.2; done
ec host list
ec instance create web1 --flavor tiny --image demo --wait
ec instance list
ec instance show web1
ec instance delete web1
echo "demo finished; the agent's log was:"
cat "$work/agent.log"
