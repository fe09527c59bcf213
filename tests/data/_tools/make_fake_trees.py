#!/usr/bin/env python3
"""Write the fake /proc and /sys trees under tests/data/proc/<case> and tests/data/sys/<case>.

    python tests/data/_tools/make_fake_trees.py

Each case reproduces a kind of machine oomkit meets (see docs/doctor.md, "Test machines").
File layouts are copied from a live 6.18 kernel (status, meminfo, vmstat,
mountinfo, cgroup files) and from the documented formats of older kernels
(4.18 for the RHEL 8 case); the numbers are chosen so the expected results can
be worked out by hand. The generated files are committed; rerun this after
changing it and review the diff.
"""

from __future__ import annotations

import shutil
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent


def status(name: str, pid: int, uid: int, *, anon: int = 0, file: int = 0, shmem: int = 0,
           swap: int = 0, pte: int = 0, state: str = "S (sleeping)", threads: int = 1,
           mm: bool = True, kthread: bool = False, umask: bool = True) -> str:
    """A /proc/PID/status as proc_pid_status() prints it (6.x layout; Umask only 4.7+)."""
    lines = [f"Name:\t{name}"]
    if umask:
        lines.append("Umask:\t0022")
    lines += [f"State:\t{state}", f"Tgid:\t{pid}", "Ngid:\t0", f"Pid:\t{pid}", "PPid:\t1",
              "TracerPid:\t0", f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}", f"Gid:\t{uid}\t{uid}\t{uid}\t{uid}",
              "FDSize:\t64", "Groups:\t ", f"NStgid:\t{pid}", f"NSpid:\t{pid}", f"NSpgid:\t{pid}",
              f"NSsid:\t{pid}", f"Kthread:\t{1 if kthread else 0}"]
    if mm:
        rss = anon + file + shmem
        lines += [f"VmPeak:\t{rss * 2 + 10000:8d} kB", f"VmSize:\t{rss * 2 + 9000:8d} kB",
                  "VmLck:\t       0 kB", "VmPin:\t       0 kB", f"VmHWM:\t{rss:8d} kB",
                  f"VmRSS:\t{rss:8d} kB", f"RssAnon:\t{anon:8d} kB", f"RssFile:\t{file:8d} kB",
                  f"RssShmem:\t{shmem:8d} kB", f"VmData:\t{anon + 300:8d} kB",
                  "VmStk:\t     132 kB", "VmExe:\t      20 kB", "VmLib:\t    1528 kB",
                  f"VmPTE:\t{pte:8d} kB", f"VmSwap:\t{swap:8d} kB", "HugetlbPages:\t       0 kB",
                  "CoreDumping:\t0", "THP_enabled:\t1"]
    lines += [f"Threads:\t{threads}", "SigQ:\t0/96364", "SigPnd:\t0000000000000000",
              "ShdPnd:\t0000000000000000", "SigBlk:\t0000000000000000",
              "SigIgn:\t0000000000000000", "SigCgt:\t0000000000000000",
              "CapInh:\t0000000000000000", "CapPrm:\t0000000000000000",
              "CapEff:\t0000000000000000", "CapBnd:\t000001ffffffffff",
              "CapAmb:\t0000000000000000", "NoNewPrivs:\t0", "Seccomp:\t0",
              "Cpus_allowed:\tf", "Cpus_allowed_list:\t0-3", "Mems_allowed:\t00000001",
              "Mems_allowed_list:\t0", "voluntary_ctxt_switches:\t10",
              "nonvoluntary_ctxt_switches:\t1"]
    return "\n".join(lines) + "\n"


def write(root: Path, rel: str, text: str) -> None:
    """Write one file, creating its directories."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def meminfo(total: int, free: int, avail: int, swap_total: int, swap_free: int,
            commit_limit: int, committed: int, hugetlb: int = 0, hp_total: int = 0) -> str:
    """/proc/meminfo with the fields doctor and scoring read (kB)."""
    rows = [("MemTotal", total), ("MemFree", free), ("MemAvailable", avail),
            ("Buffers", 5596), ("Cached", 418124), ("SwapCached", 0),
            ("SwapTotal", swap_total), ("SwapFree", swap_free), ("AnonPages", 7180),
            ("Shmem", 8952), ("PageTables", 1288), ("CommitLimit", commit_limit),
            ("Committed_AS", committed)]
    text = "".join(f"{k + ':':<16}{v:>8} kB\n" for k, v in rows)
    text += (f"HugePages_Total: {hp_total:>5}\nHugePages_Free:  {hp_total:>5}\n"
             f"HugePages_Rsvd:      0\nHugePages_Surp:      0\nHugepagesize:       2048 kB\n"
             f"Hugetlb:        {hugetlb:>8} kB\n")
    return text


def proc_common(root: Path, sysctl: dict[str, int]) -> None:
    """sysctls under sys/."""
    for name, value in sysctl.items():
        write(root, "sys/" + name.replace(".", "/"), f"{value}\n")


def pid(root: Path, p: int, cmdline: str, cgroup: str, adj: int, oom_score: int | None,
        status_text: str) -> None:
    """One /proc/PID directory."""
    write(root, f"{p}/status", status_text)
    write(root, f"{p}/oom_score_adj", f"{adj}\n")
    write(root, f"{p}/cgroup", cgroup)
    write(root, f"{p}/cmdline", cmdline.replace(" ", "\0") + ("\0" if cmdline else ""))
    write(root, f"{p}/comm", status_text.split("\n", 1)[0][6:] + "\n")
    if oom_score is not None:
        write(root, f"{p}/oom_score", f"{oom_score}\n")


def v2_zram() -> None:
    """Fedora-like desktop: cgroup v2 with memory, zram swap, systemd-oomd, PSI, mode 0."""
    proc, sys = DATA / "proc" / "v2-zram", DATA / "sys" / "v2-zram"
    for d in (proc, sys):
        shutil.rmtree(d, ignore_errors=True)
    # 16 GiB RAM (4,000,000 kB after reservations), 8 GiB zram swap.
    write(proc, "meminfo", meminfo(4000000, 500000, 1500000, 8388604, 6291456,
                                   2000000 + 8388604, 9500000))
    write(proc, "vmstat", "nr_free_pages 125000\npgfault 123456\noom_kill 2\n")
    write(proc, "swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
          "/dev/zram0                              partition\t8388604\t\t2097148\t\t100\n")
    write(proc, "pressure/memory", "some avg10=12.50 avg60=8.20 avg300=3.10 total=987654321\n"
          "full avg10=4.00 avg60=2.50 avg300=0.90 total=123456789\n")
    proc_common(proc, {"vm.overcommit_memory": 0, "vm.overcommit_ratio": 50,
                       "vm.overcommit_kbytes": 0, "vm.panic_on_oom": 0,
                       "vm.oom_kill_allocating_task": 0, "vm.oom_dump_tasks": 1,
                       "vm.swappiness": 180, "vm.admin_reserve_kbytes": 8192,
                       "kernel.dmesg_restrict": 0})
    write(proc, "self/mountinfo",
          "22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
          "23 1 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw,seclabel\n"
          "31 23 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 "
          "cgroup2 rw,seclabel,nsdelegate,memory_recursiveprot\n")
    term = "/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-42.scope"
    write(proc, "self/cgroup", f"0::{term}\n")
    # totalpages = 4000000/4 + 8388604/4 = 1000000 + 2097151 = 3097151; step = 3097
    pg = "/system.slice/postgresql.service"
    procs = [
        (1, "systemd", "/usr/lib/systemd/systemd --switched-root", "/init.scope", 0, 0,
         status("systemd", 1, 0, anon=8000, file=9000, pte=120)),
        (612, "systemd-oomd", "/usr/lib/systemd/systemd-oomd", "/system.slice/systemd-oomd.service",
         -900, None, status("systemd-oomd", 612, 990, anon=1200, file=3000, pte=60)),
        (1500, "firefox", "/usr/lib64/firefox/firefox", "/user.slice/user-1000.slice/user@1000.service/"
         "app.slice/app-firefox-1500.scope", 0, None,
         status("firefox", 1500, 1000, anon=1800000, file=200000, shmem=100000, swap=400000,
                pte=9000, threads=120)),
        (1700, "postgres", "/usr/bin/postgres -D /var/lib/pgsql/data", pg, -900, None,
         status("postgres", 1700, 26, anon=600000, file=50000, shmem=700000, swap=20000,
                pte=4000)),
        (1701, "postgres", "postgres: checkpointer", pg, 0, None,
         status("postgres", 1701, 26, anon=2000, file=4000, shmem=300000, pte=700)),
        (2000, "kworker/0:1-events", "", "/", 0, 0,
         status("kworker/0:1-events", 2000, 0, mm=False, kthread=True, state="I (idle)")),
        (2100, "defunct", "", term, 0, 0,
         status("defunct", 2100, 1000, mm=False, state="Z (zombie)")),
        (2200, "bash", "bash", term, 0, None,
         status("bash", 2200, 1000, anon=4000, file=4000, pte=80)),
        (2300, "web (worker)", "/usr/bin/python3 -m web --worker", "/system.slice/web.service", 500,
         None, status("web (worker)", 2300, 1000, anon=300000, file=10000, pte=800)),
    ]
    for p, _n, cmd, cg, adj, score, st in procs:
        pid(proc, p, cmd, f"0::{cg}\n", adj, score, st)
    cgroot = "fs/cgroup"
    write(sys, f"{cgroot}/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n")
    write(sys, f"{cgroot}/cgroup.procs", "2000\n")  # v2: a process is in exactly one cgroup
    write(sys, f"{cgroot}/init.scope/cgroup.procs", "1\n")
    def cg(limit: str, current: str, procs: str = "", swap: str = "max", high: str = "max",
           group: int = 0, oom: int = 0, kills: int = 0) -> dict[str, str | int]:
        return {"max": limit, "current": current, "procs": procs, "swap": swap, "high": high,
                "group": group, "oom": oom, "kills": kills}

    user = "user.slice/user-1000.slice/user@1000.service"
    cgs = {
        "system.slice": cg("max", "2000000000"),
        "system.slice/systemd-oomd.service": cg("max", "20000000", "612\n"),
        # 2 GiB limit, 256 MiB swap, group kill on: 524288 + 65536 = 589824 pages
        "system.slice/postgresql.service": cg("2147483648", "1900000000", "1700\n1701\n",
                                              swap="268435456", group=1, oom=3, kills=1),
        "system.slice/web.service": cg("1073741824", "400000000", "2300\n", swap="0",
                                       high="805306368"),
        "user.slice": cg("max", "9000000000"),
        "user.slice/user-1000.slice": cg("max", "9000000000"),
        user: cg("max", "9000000000"),
        f"{user}/app.slice": cg("12884901888", "9000000000"),
        f"{user}/app.slice/app-firefox-1500.scope": cg("max", "8500000000", "1500\n"),
        f"{user}/app.slice/vte-spawn-42.scope": cg("max", "30000000", "2100\n2200\n"),
    }
    for path, v in cgs.items():
        d = f"{cgroot}/{path}"
        write(sys, f"{d}/memory.max", f"{v['max']}\n")
        write(sys, f"{d}/memory.current", f"{v['current']}\n")
        write(sys, f"{d}/memory.swap.max", f"{v['swap']}\n")
        write(sys, f"{d}/memory.high", f"{v['high']}\n")
        write(sys, f"{d}/memory.oom.group", f"{v['group']}\n")
        write(sys, f"{d}/memory.events", f"low 0\nhigh 0\nmax 12\noom {v['oom']}\n"
              f"oom_kill {v['kills']}\noom_group_kill {v['kills'] if v['group'] else 0}\n")
        write(sys, f"{d}/cgroup.procs", str(v["procs"]))
    write(sys, "block/zram0/disksize", "8589934592\n")
    write(sys, "block/zram0/comp_algorithm", "lzo lzo-rle lz4 lz4hc 842 [zstd]\n")
    #            orig_data  compr_data  mem_used  mem_limit mem_used_max same huge ...
    write(sys, "block/zram0/mm_stat", "2147483648 536870912 570425344        0 600000000 1000 0 0 0\n")
    for k, v in (("enabled", "N"), ("compressor", "lzo"), ("zpool", "zsmalloc"),
                 ("max_pool_percent", "20"), ("accept_threshold_percent", "90"),
                 ("shrinker_enabled", "Y")):
        write(sys, f"module/zswap/parameters/{k}", v + "\n")


def mode2_nopsi() -> None:
    """RHEL 8-like server (4.18): cgroup v1, strict overcommit near its limit, no PSI,
    swap file, earlyoom and nohang both running, quiet kill reports."""
    proc, sys = DATA / "proc" / "mode2-nopsi", DATA / "sys" / "mode2-nopsi"
    for d in (proc, sys):
        shutil.rmtree(d, ignore_errors=True)
    # 8 GB RAM, 2 GiB hugetlb pool, ratio 80, 2 GiB swap file:
    # CommitLimit = (8000000 - 2097152) * 80 / 100 + 2097148 = 6819426
    write(proc, "meminfo", meminfo(8000000, 300000, 600000, 2097148, 100000,
                                   6819426, 6600000, hugetlb=2097152, hp_total=1024))
    write(proc, "vmstat", "nr_free_pages 75000\noom_kill 7\n")
    write(proc, "swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
          "/swap\\040file                            file\t\t2097148\t\t1997148\t\t-2\n")
    proc_common(proc, {"vm.overcommit_memory": 2, "vm.overcommit_ratio": 80,
                       "vm.overcommit_kbytes": 0, "vm.panic_on_oom": 1,
                       "vm.oom_kill_allocating_task": 1, "vm.oom_dump_tasks": 0,
                       "vm.swappiness": 30, "vm.admin_reserve_kbytes": 8192,
                       "kernel.dmesg_restrict": 1})
    write(proc, "self/mountinfo",
          "25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw\n"
          "30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:3 - tmpfs tmpfs ro,mode=755\n"
          "31 30 0:27 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:4 - cgroup "
          "cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd\n"
          "35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:8 - cgroup "
          "cgroup rw,memory\n")
    app = "/system.slice/docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope"
    write(proc, "self/cgroup", f"11:memory:{app}\n1:name=systemd:{app}\n")
    procs = [
        (1, "systemd", "/usr/lib/systemd/systemd --system", "/init.scope", 0,
         status("systemd", 1, 0, anon=5000, file=7000, pte=100, umask=False)),
        (700, "earlyoom", "/usr/bin/earlyoom -r 3600", "/system.slice/earlyoom.service", -100,
         status("earlyoom", 700, 0, anon=300, file=1200, pte=40, umask=False)),
        (710, "python3", "/usr/bin/python3 /usr/sbin/nohang --monitor",
         "/system.slice/nohang.service", -10,
         status("python3", 710, 0, anon=12000, file=6000, pte=90, umask=False)),
        (900, "java", "java -Xmx3g -cp kafka.jar kafka.Kafka config/server.properties", app, 0,
         status("java", 900, 1001, anon=3200000, file=100000, swap=400000, pte=7000,
                umask=False)),
    ]
    for p, _n, cmd, cg, adj, st in procs:
        pid(proc, p, cmd, f"11:memory:{cg}\n1:name=systemd:{cg}\n", adj, None, st)
    mem = "fs/cgroup/memory"
    unlimited = "9223372036854771712"
    cgs = {
        "": {"limit": unlimited, "usage": "7000000000", "memsw": unlimited, "swappiness": 30,
                 "procs": "1\n"},
        "system.slice": {"limit": unlimited, "usage": "6000000000", "memsw": unlimited,
                             "swappiness": 30, "procs": ""},
        "system.slice/earlyoom.service": {"limit": unlimited, "usage": "5000000", "memsw": unlimited,
                                              "swappiness": 30, "procs": "700\n"},
        "system.slice/nohang.service": {"limit": unlimited, "usage": "20000000", "memsw": unlimited,
                                            "swappiness": 30, "procs": "710\n"},
        app[1:]: {"limit": "4294967296", "usage": "3950000000", "memsw": "5368709120",
                      "swappiness": 60, "procs": "900\n", "kills": 4},
    }
    for path, v in cgs.items():
        d = f"{mem}/{path}" if path else mem
        write(sys, f"{d}/memory.limit_in_bytes", f"{v['limit']}\n")
        write(sys, f"{d}/memory.usage_in_bytes", f"{v['usage']}\n")
        write(sys, f"{d}/memory.memsw.limit_in_bytes", f"{v['memsw']}\n")
        write(sys, f"{d}/memory.swappiness", f"{v['swappiness']}\n")
        write(sys, f"{d}/memory.oom_control", f"oom_kill_disable 0\nunder_oom 0\n"
              f"oom_kill {v.get('kills', 0)}\n")
        write(sys, f"{d}/cgroup.procs", str(v["procs"]))
    write(sys, "fs/cgroup/systemd/cgroup.procs", "1\n")


def main() -> None:
    """Regenerate every case."""
    v2_zram()
    mode2_nopsi()


if __name__ == "__main__":
    main()
