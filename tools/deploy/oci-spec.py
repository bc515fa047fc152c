#!/usr/bin/python3
"""An OCI runtime spec (config.json for runc) from the DaemonSet's Pod template,
as kubelet + containerd would make it on a node, so that the manifest's
security context is run for real without a cluster.

  oci-spec.py MANIFEST ROOTFS BUNDLE [options]

Taken from the manifest: image entrypoint + args, env (Downward API fieldRefs
replaced by --field values, envFrom secrets by --secret values), capabilities
(drop ALL, add ...: bounding = effective = permitted, no inheritable or
ambient, as containerd >= 1.6.18), privileged (refused: not what is tested),
allowPrivilegeEscalation (false -> no_new_privs), readOnlyRootFilesystem,
hostPID (no PID namespace), seccompProfile (Unconfined, or RuntimeDefault:
the runtime's default profile, here containers-common's as CRI-O and podman
use it, conditioned on the container's capabilities like the runtime does),
resources.limits.memory (memory cgroup limit), volumeMounts: hostPath as
recursive read-only or read-write binds, configMap written from the
manifest's own ConfigMap, secret and emptyDir from directories given.

Not from the manifest (no cluster here): the Pod's network namespace (the
host's is used: no CNI here; --metrics-addr is overridden to a free port),
AppArmor (not enabled on this host).
"""
import argparse
import json
import os
import resource
import sys

import yaml


def fail(msg):
    print("oci-spec: " + msg, file=sys.stderr)
    sys.exit(2)


def cap_rlimit(which, want):
    hard = resource.getrlimit(which)[1]
    return want if hard == resource.RLIM_INFINITY else min(want, hard)


def convert_seccomp(profile, caps):
    """A Docker/containers-common profile (includes/excludes by capability
    and arch) as an OCI seccomp section for these capabilities."""
    machine = os.uname().machine
    names = {"x86_64": ("SCMP_ARCH_X86_64", "amd64"), "aarch64": ("SCMP_ARCH_AARCH64", "arm64")}
    if machine not in names:
        fail(f"no seccomp architecture known for {machine}")
    scmp_arch, goarch = names[machine]
    archs = []
    for m in profile.get("archMap", []):
        if m["architecture"] == scmp_arch:
            archs = [m["architecture"]] + m.get("subArchitectures", [])
    out = {"defaultAction": profile["defaultAction"], "architectures": archs, "syscalls": []}
    if "defaultErrnoRet" in profile:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    capset = set(caps)
    for s in profile["syscalls"]:
        inc, exc = s.get("includes") or {}, s.get("excludes") or {}
        if inc.get("caps") and not set(inc["caps"]) <= capset:
            continue
        if exc.get("caps") and set(exc["caps"]) & capset:
            continue
        if inc.get("arches") and goarch not in inc["arches"]:
            continue
        if exc.get("arches") and goarch in exc["arches"]:
            continue
        rule = {k: s[k] for k in ("names", "action", "args", "errnoRet") if k in s and s[k] is not None}
        out["syscalls"].append(rule)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifest")
    ap.add_argument("rootfs")
    ap.add_argument("bundle")
    ap.add_argument("--container", default="agent")
    ap.add_argument("--field", action="append", default=[], help="FIELDPATH=VALUE (Downward API)")
    ap.add_argument("--secret", action="append", default=[], help="SECRET:KEY=VALUE (envFrom, secret volumes)")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE added after the manifest's")
    ap.add_argument("--host-path", action="append", default=[],
                    help="MANIFEST_PATH=DIR: a hostPath volume taken from DIR (the test's emulated node)")
    ap.add_argument("--set-arg", action="append", default=[], help="--OPTION=VALUE replacing the value after --OPTION in args")
    ap.add_argument("--drop-cap", action="append", default=[], help="a capability of the manifest's add list left out")
    ap.add_argument("--add-cap", action="append", default=[], help="a capability added to the manifest's list")
    ap.add_argument("--seccomp", choices=["manifest", "unconfined", "runtime-default"], default="manifest")
    ap.add_argument("--default-seccomp", default="/usr/share/containers/seccomp.json")
    a = ap.parse_args()

    docs = [d for d in yaml.safe_load_all(open(a.manifest)) if d]
    ds = next((d for d in docs if d["kind"] == "DaemonSet"), None) or fail("no DaemonSet in " + a.manifest)
    cms = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    pod = ds["spec"]["template"]["spec"]
    ctr = next((c for c in pod["containers"] if c["name"] == a.container), None) or fail("no container " + a.container)
    sc = ctr.get("securityContext", {})
    # the API schema lets unknown fields through: a misspelt one here would be
    # a security setting silently not applied
    known = {"privileged", "allowPrivilegeEscalation", "readOnlyRootFilesystem", "capabilities",
             "seccompProfile", "runAsUser", "runAsGroup", "runAsNonRoot", "procMount",
             "seLinuxOptions", "appArmorProfile", "windowsOptions"}
    unknown = set(sc) - known | set(sc.get("capabilities", {})) - {"add", "drop"}
    if unknown:
        fail("unknown securityContext fields: " + ", ".join(sorted(unknown)))
    for k in ("runAsUser", "runAsGroup", "procMount", "seLinuxOptions", "appArmorProfile"):
        if k in sc:
            fail(f"securityContext.{k} is not modelled by this generator")
    if sc.get("privileged"):
        fail("privileged: true is not what this checks")
    fields = dict(f.split("=", 1) for f in a.field)
    secrets = {}
    for s in a.secret:
        name, kv = s.split(":", 1)
        k, v = kv.split("=", 1)
        secrets.setdefault(name, {})[k] = v
    hostmap = dict(h.split("=", 1) for h in a.host_path)

    # environment: image's PATH, then env (fieldRef replaced), envFrom secrets
    env = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    for e in ctr.get("env", []):
        if "value" in e:
            env.append(f"{e['name']}={e['value']}")
        elif "fieldRef" in e.get("valueFrom", {}):
            fp = e["valueFrom"]["fieldRef"]["fieldPath"]
            fp in fields or fail(f"env {e['name']}: give --field {fp}=VALUE")
            env.append(f"{e['name']}={fields[fp]}")
        else:
            fail(f"env {e['name']}: unsupported source")
    for ef in ctr.get("envFrom", []):
        name = ef["secretRef"]["name"]
        name in secrets or fail(f"envFrom secret {name}: give --secret {name}:KEY=VALUE")
        env += [f"{k}={v}" for k, v in secrets[name].items()]
    env += a.env

    # args: the image's ENTRYPOINT (Dockerfile) + the manifest's args
    args = ["/usr/local/bin/podflame"] + list(ctr.get("args", ["agent"]))
    for s in a.set_arg:
        opt, val = s.split("=", 1)
        opt in args or fail(f"{opt} is not in the manifest's args")
        args[args.index(opt) + 1] = val

    caps_add = ["CAP_" + c for c in sc.get("capabilities", {}).get("add", [])]
    drops = sc.get("capabilities", {}).get("drop", [])
    if drops != ["ALL"]:
        fail("capabilities.drop must be [ALL] (the runtime's default set is not modelled)")
    for d in a.drop_cap:
        "CAP_" + d in caps_add or fail(f"--drop-cap {d}: not in the manifest's add list")
        caps_add.remove("CAP_" + d)
    caps_add += ["CAP_" + c for c in a.add_cap]

    # mounts: runc's defaults (proc, dev, sysfs read-only as for an
    # unprivileged container), minus its cgroup mount (the hostPath replaces it)
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    ]
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for vm in ctr.get("volumeMounts", []):
        v = vols[vm["name"]]
        ro = bool(vm.get("readOnly"))
        if "hostPath" in v:
            src = hostmap.get(v["hostPath"]["path"], v["hostPath"]["path"])
            if v["hostPath"].get("type") == "DirectoryOrCreate":
                os.makedirs(src, mode=0o755, exist_ok=True)
        elif "configMap" in v:
            cm = cms.get(v["configMap"]["name"]) or fail("no ConfigMap " + v["configMap"]["name"])
            src = os.path.join(a.bundle, "volumes", vm["name"])
            os.makedirs(src, exist_ok=True)
            for k, val in cm["data"].items():
                with open(os.path.join(src, k), "w") as f:
                    f.write(val)
        elif "secret" in v:
            name = v["secret"]["secretName"]
            name in secrets or fail(f"secret volume {name}: give --secret {name}:KEY=VALUE")
            src = os.path.join(a.bundle, "volumes", vm["name"])
            os.makedirs(src, exist_ok=True)
            for k, val in secrets[name].items():
                p = os.path.join(src, k)
                with open(p, "w") as f:
                    f.write(val)
                os.chmod(p, v["secret"].get("defaultMode", 0o644))
        elif "emptyDir" in v:
            src = os.path.join(a.bundle, "volumes", vm["name"])
            os.makedirs(src, exist_ok=True)
        else:
            fail(f"volume {vm['name']}: unsupported type")
        # containerd binds recursively; readOnly: a read-only bind
        mounts.append({"destination": vm["mountPath"], "type": "bind", "source": os.path.abspath(src),
                       "options": ["rbind", "rprivate"] + (["ro"] if ro else ["rw"])})

    namespaces = [{"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]
    if not pod.get("hostPID"):
        namespaces.append({"type": "pid"})
    # network: the host's (no CNI here). cgroup: the host's, as on a
    # cgroup v1/hybrid node

    linux = {
        "namespaces": namespaces,
        "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
        "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        # the memory limit needs a cgroup: one per bundle under /podflame-oci
        "cgroupsPath": "/podflame-oci/" + os.path.basename(os.path.abspath(a.bundle)),
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
    }
    mem = ctr.get("resources", {}).get("limits", {}).get("memory")
    if mem:
        units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
        n = next((int(mem[:-2]) * m for u, m in units.items() if mem.endswith(u)), None) or int(mem)
        linux["resources"]["memory"] = {"limit": n}

    seccomp = a.seccomp
    if seccomp == "manifest":
        t = sc.get("seccompProfile", {}).get("type", "RuntimeDefault")
        seccomp = {"Unconfined": "unconfined", "RuntimeDefault": "runtime-default"}.get(t) or fail("seccomp " + t)
    if seccomp == "runtime-default":
        linux["seccomp"] = convert_seccomp(json.load(open(a.default_seccomp)), caps_add)

    spec = {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": env,
            "cwd": "/",
            "capabilities": {k: list(caps_add) for k in ("bounding", "effective", "permitted")},
            # kubelet: no_new_privs when allowPrivilegeEscalation is false
            "noNewPrivileges": sc.get("allowPrivilegeEscalation") is False,
            # containerd's own limits, inherited (systemd unit): RLIMIT_MEMLOCK is the
            # kernel default; BPF memory is charged to the cgroup on kernels >= 5.11
            # (at most what this host allows)
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": cap_rlimit(resource.RLIMIT_NOFILE, 1048576),
                         "soft": cap_rlimit(resource.RLIMIT_NOFILE, 1048576)},
                        {"type": "RLIMIT_MEMLOCK", "hard": cap_rlimit(resource.RLIMIT_MEMLOCK, 8388608),
                         "soft": cap_rlimit(resource.RLIMIT_MEMLOCK, 8388608)}],
        },
        "root": {"path": os.path.abspath(a.rootfs), "readonly": bool(sc.get("readOnlyRootFilesystem"))},
        "hostname": "podflame-agent",
        "mounts": mounts,
        "linux": linux,
    }
    os.makedirs(a.bundle, exist_ok=True)
    with open(os.path.join(a.bundle, "config.json"), "w") as f:
        json.dump(spec, f, indent=1)


main()
