/**
 * The metrics bench's generated data set: what Prometheus scrapes from node_exporter (1.5, Linux,
 * a 4-vCPU virtual machine): 525 series per instance (520 of the page, `up` and 4 `scrape_*`),
 * the families and label sets of a real `/metrics` page, with the dynamics of the kernel counters
 * they read. Deterministic (a seeded mulberry32 stream per instance); both engines of the bench
 * receive exactly these samples, in the same requests.
 *
 * Why it looks like this (what a real page has, and where the values come from):
 * - **Host activity.** Each instance has a busy level (5–60 % of CPU, drawn once) and an
 *   activity process around it (mean-reverting, Ornstein–Uhlenbeck, 10-minute time constant);
 *   CPU, network, disk, context switches, interrupts and page faults follow it, each with its own
 *   noise: a busy host stays busy, a quiet one quiet, as on real fleets.
 * - **CPU** (`node_cpu_seconds_total`, 4 CPUs × 8 modes = 32 series): /proc/stat counts ticks of
 *   USER_HZ = 100, so values are centiseconds (2 decimals); each CPU's 8 modes add up to the
 *   1,500 ticks of 15 s, split by the activity (user, system, iowait, softirq) with `irq`,
 *   `steal` and `nice` mostly flat, as on a virtual machine.
 * - **Memory** (`node_memory_*_bytes`): /proc/meminfo is in kB, so values are multiples of 1024;
 *   totals are constant, free/cached/dirty move by pages.
 * - **Network and disk** counters: bytes and packets of `eth0` follow the activity with heavy
 *   noise; `lo` carries a trickle; error and drop counters stay at 0 with a rare increment;
 *   disk bytes are sectors × 512, disk times milliseconds / 1000 (3 decimals).
 * - **Filesystems**: sizes and inode totals constant, free space moving by 4 KiB blocks.
 * - **Gauges** `node_load1/5/15` (2 decimals, exponentially smoothed as the kernel does),
 *   running/blocked processes, file descriptors, conntrack entries, TCP sockets.
 * - **The exporter itself**: `node_scrape_collector_duration_seconds` (full-precision floats:
 *   nothing compresses them), `..._success` (1), Go runtime and process gauges,
 *   `promhttp_metric_handler_requests_total` (+1 per scrape), `node_time_seconds` (the scrape's
 *   wall time with microseconds), `up`.
 * Over 2 hours 58 % of the series are constant (totals, flags, sizes, info gauges, zero error
 * counters) and another 2 % take at most 5 values (rare drops, blocked processes); real pages have
 * about the same share (their constant families are larger still: one series per CPU, device and
 * mount for each info gauge).
 *
 * Timestamps: every series of an instance carries the instance's scrape time, on a 15 s grid at
 * the instance's own phase, exact to the millisecond: the kindest case for both codecs (a
 * delta-of-delta of 0 costs Prometheus 1 bit per sample and this store's runs nearly nothing;
 * real scrapes jitter by a few ms, which costs both codecs bits on every sample).
 */
import { mulberry32 } from "../core/scaling/traces";

/** One generated series: labels and its value at scrape k (called with k = 0, 1, 2, … in order). */
export interface GeneratedSeries {
  labels: Record<string, string>;
  next: (k: number) => number;
}

/** Scrape interval of the set, ms. */
export const SCRAPE_MS = 15_000;

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** The scrape-time phase of host `i` within the 15 s interval, ms. */
export const instancePhase = (i: number): number => (i * 1237) % SCRAPE_MS;

/** The series of host `i`'s node_exporter page (plus the scrape's own `up` and `scrape_*`). */
export function instanceSeries(i: number): GeneratedSeries[] {
  const r = mulberry32(1000 + i);
  const gauss = () => {
    // Box–Muller
    const u = Math.max(r(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  };
  const instance = `node-${i}:9100`;
  const out: GeneratedSeries[] = [];
  const add = (labels: Record<string, string>, next: (k: number) => number) =>
    out.push({ labels: { ...labels, instance, job: "node" }, next });
  const constant = (labels: Record<string, string>, value: number) => add(labels, () => value);

  // host activity: OU process around the busy level, advanced once per scrape
  const busy = 0.05 + r() * 0.55;
  let activity = busy;
  let activityStep = -1;
  const act = (k: number) => {
    if (k !== activityStep) {
      activityStep = k;
      activity += (busy - activity) * (15 / 600) + 0.04 * gauss();
      activity = Math.min(0.98, Math.max(0.01, activity));
    }
    return activity;
  };
  /** A counter of `unit`s (1, 0.01 for centiseconds, 512 for sectors…), `inc(k)` units per scrape. */
  const counter = (labels: Record<string, string>, inc: (k: number) => number, unit = 1, start = r() * 1e9) => {
    let n = Math.floor(start);
    add(labels, (k) => {
      n += Math.max(0, Math.round(inc(k)));
      return unit >= 1 ? n * unit : round(n * unit, Math.round(-Math.log10(unit)));
    });
  };
  /** A gauge of `unit`s doing a random walk of `step(k)` units per scrape, with probability `p`. */
  const walk = (labels: Record<string, string>, start: number, step: (k: number) => number, unit = 1, p = 1) => {
    let n = Math.floor(start);
    add(labels, (k) => {
      if (r() < p) n = Math.max(0, n + Math.round(step(k) * gauss()));
      return unit >= 1 ? n * unit : round(n * unit, Math.round(-Math.log10(unit)));
    });
  };
  /** A counter that stays at its value but for a rare increment (errors, drops). */
  const rare = (labels: Record<string, string>, p: number) => counter(labels, () => (r() < p ? 1 : 0), 1, r() * 50);

  // --- CPU: 4 CPUs; /proc/stat ticks of 1/100 s, each CPU's modes adding up to 1,500 per scrape
  const modes = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"] as const;
  for (let cpu = 0; cpu < 4; cpu++) {
    const totals = Object.fromEntries(modes.map((m) => [m, Math.floor(r() * 5e7)])) as Record<string, number>;
    totals.nice = Math.floor(r() * 300);
    let ticks: Record<string, number> = {};
    let at = -1;
    const split = (k: number) => {
      if (k === at) return ticks;
      at = k;
      const a = Math.min(0.98, Math.max(0, act(k) * (1 + 0.15 * gauss())));
      const t = {
        user: Math.round(1500 * a * 0.62),
        system: Math.round(1500 * a * 0.25),
        iowait: Math.round(1500 * a * 0.06 * r()),
        softirq: Math.round(1500 * a * 0.03 * r()),
        irq: r() < 0.1 ? 1 : 0,
        steal: r() < 0.05 ? Math.round(r() * 5) : 0,
        nice: 0,
        idle: 0,
      };
      t.idle = Math.max(0, 1500 - t.user - t.system - t.iowait - t.softirq - t.irq - t.steal);
      ticks = t;
      return t;
    };
    for (const mode of modes)
      add({ __name__: "node_cpu_seconds_total", cpu: String(cpu), mode }, (k) => {
        totals[mode] += split(k)[mode];
        return totals[mode] / 100;
      });
    for (const mode of ["nice", "user"])
      constant({ __name__: "node_cpu_guest_seconds_total", cpu: String(cpu), mode }, 0);
    // schedstat: nanoseconds (9 decimals) of running and waiting, and timeslices
    counter(
      { __name__: "node_schedstat_running_seconds_total", cpu: String(cpu) },
      (k) => 15e9 * act(k) * (1 + 0.15 * gauss()),
      1e-9,
      r() * 1e15,
    );
    counter(
      { __name__: "node_schedstat_waiting_seconds_total", cpu: String(cpu) },
      (k) => 1e9 * act(k) * r(),
      1e-9,
      r() * 1e14,
    );
    counter(
      { __name__: "node_schedstat_timeslices_total", cpu: String(cpu) },
      (k) => 3000 * act(k) * (1 + 0.2 * gauss()),
    );
    counter({ __name__: "node_softnet_processed_total", cpu: String(cpu) }, (k) => 2000 * act(k) * (1 + 0.3 * gauss()));
    rare({ __name__: "node_softnet_dropped_total", cpu: String(cpu) }, 0);
    rare({ __name__: "node_softnet_times_squeezed_total", cpu: String(cpu) }, 0.002);
  }

  // --- memory: /proc/meminfo in kB (× 1024); 20 constant lines, 25 moving by pages (4 KiB)
  const memTotal = (2 + Math.floor(r() * 15)) * 1024 * 1024 * 1024;
  constant({ __name__: "node_memory_MemTotal_bytes" }, memTotal);
  for (const name of [
    "SwapTotal",
    "SwapFree",
    "SwapCached",
    "HugePages_Total",
    "HugePages_Free",
    "HugePages_Rsvd",
    "HugePages_Surp",
    "Hugetlb",
    "CmaTotal",
    "CmaFree",
    "HardwareCorrupted",
    "Mlocked",
    "Unevictable",
    "NFS_Unstable",
    "Bounce",
    "WritebackTmp",
    "Zswap",
    "Zswapped",
  ])
    constant({ __name__: `node_memory_${name}_bytes` }, 0);
  constant({ __name__: "node_memory_Hugepagesize_bytes" }, 2097152);
  constant({ __name__: "node_memory_VmallocTotal_bytes" }, 35184372087808);
  for (const name of [
    "MemFree",
    "MemAvailable",
    "Buffers",
    "Cached",
    "Active",
    "Inactive",
    "Active_anon",
    "Inactive_anon",
    "Active_file",
    "Inactive_file",
    "Dirty",
    "Writeback",
    "AnonPages",
    "Mapped",
    "Shmem",
    "KReclaimable",
    "Slab",
    "SReclaimable",
    "SUnreclaim",
    "KernelStack",
    "PageTables",
    "Committed_AS",
    "VmallocUsed",
    "Percpu",
    "AnonHugePages",
  ]) {
    const quiet = [
      "Writeback",
      "Shmem",
      "Percpu",
      "AnonHugePages",
      "VmallocUsed",
      "KernelStack",
      "PageTables",
    ].includes(name);
    walk(
      { __name__: `node_memory_${name}_bytes` },
      (memTotal / 4096) * r() * 0.3,
      (k) => (quiet ? 2 : 300 * act(k)),
      4096,
      quiet ? 0.2 : 0.9,
    );
  }
  // DirectMap4k/2M/1G: constant
  for (const name of ["DirectMap4k", "DirectMap2M", "DirectMap1G"])
    constant({ __name__: `node_memory_${name}_bytes` }, Math.floor(r() * 4e6) * 1024);

  // --- network: eth0 busy, docker0 some, lo a trickle; 12 error/drop/fifo counters and 17 info gauges per device
  for (const [device, rate] of [
    ["eth0", 200_000 + r() * 5_000_000],
    ["docker0", 50_000 * r()],
    ["lo", 2000],
  ] as const) {
    for (const dir of ["receive", "transmit"]) {
      const share = dir === "receive" ? 1 : 0.4;
      let bytes = Math.floor(r() * 1e12);
      let packets = Math.floor(bytes / 900);
      let stepAt = -1;
      const step = (k: number) => {
        if (k === stepAt) return;
        stepAt = k;
        const b = Math.max(0, Math.round(rate * share * act(k) * 15 * (1 + 0.5 * gauss())));
        bytes += b;
        packets += b === 0 ? 0 : Math.round(b / (600 + r() * 600)) + 1;
      };
      add({ __name__: `node_network_${dir}_bytes_total`, device }, (k) => (step(k), bytes));
      add({ __name__: `node_network_${dir}_packets_total`, device }, (k) => (step(k), packets));
      const errors =
        dir === "receive"
          ? ["errs", "drop", "fifo", "frame", "compressed", "multicast"]
          : ["errs", "drop", "fifo", "colls", "carrier", "compressed"];
      for (const e of errors)
        rare(
          { __name__: `node_network_${dir}_${e}_total`, device },
          e === "drop" && device === "eth0" ? 0.01 : e === "multicast" && device !== "lo" ? 0.05 : 0,
        );
    }
    for (const [name, value] of [
      ["up", device === "lo" ? 0 : 1],
      ["mtu_bytes", device === "lo" ? 65536 : 1500],
      ["speed_bytes", device === "eth0" ? 1.25e9 : -125000],
      ["carrier", 1],
      ["dormant", 0],
      ["flags", 4099],
      ["iface_id", 2],
      ["iface_link", 2],
      ["iface_link_mode", 0],
      ["net_dev_group", 0],
      ["protocol_type", device === "lo" ? 772 : 1],
      ["transmit_queue_length", 1000],
      ["address_assign_type", 0],
      ["carrier_changes_total", 2],
      ["carrier_up_changes_total", 1],
      ["carrier_down_changes_total", 1],
      ["info", 1],
    ] as const)
      constant({ __name__: `node_network_${name}`, device }, value);
  }

  // --- disks: vda busy (sectors × 512, times ms / 1000), sr0 idle; 17 series each
  for (const device of ["vda", "sr0"]) {
    const idle = device === "sr0";
    const w = (k: number) => (idle ? 0 : act(k) * 40 * Math.max(0, 1 + gauss() * 0.6));
    const rd = (k: number) => (idle || r() > 0.3 ? 0 : r() * 20 * act(k));
    counter({ __name__: "node_disk_reads_completed_total", device }, rd, 1, idle ? 300 : r() * 1e7);
    counter({ __name__: "node_disk_reads_merged_total", device }, (k) => rd(k) * 0.2, 1, idle ? 0 : r() * 1e6);
    counter({ __name__: "node_disk_read_bytes_total", device }, (k) => rd(k) * 64, 512, idle ? 2000 : r() * 1e8);
    counter({ __name__: "node_disk_read_time_seconds_total", device }, (k) => rd(k) * 2, 0.001, idle ? 100 : r() * 1e8);
    counter({ __name__: "node_disk_writes_completed_total", device }, w, 1, idle ? 0 : r() * 1e7);
    counter({ __name__: "node_disk_writes_merged_total", device }, (k) => w(k) * 0.5, 1, idle ? 0 : r() * 1e7);
    counter({ __name__: "node_disk_written_bytes_total", device }, (k) => w(k) * 40, 512, idle ? 0 : r() * 1e9);
    counter({ __name__: "node_disk_write_time_seconds_total", device }, (k) => w(k) * 3, 0.001, idle ? 0 : r() * 1e8);
    add({ __name__: "node_disk_io_now", device }, (k) => (!idle && r() < act(k) * 0.3 ? 1 : 0));
    counter(
      { __name__: "node_disk_io_time_seconds_total", device },
      (k) => (w(k) + rd(k)) * 1.5,
      0.001,
      idle ? 200 : r() * 1e8,
    );
    counter(
      { __name__: "node_disk_io_time_weighted_seconds_total", device },
      (k) => (w(k) + rd(k)) * 4,
      0.001,
      idle ? 100 : r() * 1e8,
    );
    for (const name of [
      "discards_completed_total",
      "discards_merged_total",
      "discarded_sectors_total",
      "discard_time_seconds_total",
    ])
      constant({ __name__: `node_disk_${name}`, device }, 0);
    counter(
      { __name__: "node_disk_flush_requests_total", device },
      (k) => (idle ? 0 : w(k) * 0.1),
      1,
      idle ? 0 : r() * 1e6,
    );
    counter(
      { __name__: "node_disk_flush_requests_time_seconds_total", device },
      (k) => (idle ? 0 : w(k) * 0.3),
      0.001,
      idle ? 0 : r() * 1e7,
    );
  }

  // --- filesystems: 6 mounts × 7 series; free space moves (4 KiB blocks) on / and /var/lib/docker only
  for (const [mountpoint, fstype, moving] of [
    ["/", "ext4", true],
    ["/boot", "ext4", false],
    ["/var/lib/docker", "ext4", true],
    ["/run", "tmpfs", false],
    ["/dev/shm", "tmpfs", false],
    ["/run/lock", "tmpfs", false],
  ] as const) {
    const blocks = Math.floor((fstype === "ext4" ? 2e7 : 2e5) * (0.5 + r()));
    let avail = Math.floor(blocks * (0.2 + r() * 0.6));
    const files = Math.floor(blocks / 4);
    let filesFree = Math.floor(files * 0.8);
    let at = -1;
    const fs = (k: number) => {
      if (k === at || !moving) return;
      at = k;
      if (r() < 0.25) avail -= Math.round(r() * 64 * act(k)) - (r() < 0.1 ? 40 : 0);
      if (r() < 0.05) filesFree += r() < 0.5 ? 1 : -1;
    };
    const l = {
      mountpoint,
      fstype,
      device: fstype === "tmpfs" ? "tmpfs" : mountpoint === "/boot" ? "/dev/vda15" : "/dev/vda1",
    };
    constant({ __name__: "node_filesystem_size_bytes", ...l }, blocks * 4096);
    add({ __name__: "node_filesystem_avail_bytes", ...l }, (k) => (fs(k), avail * 4096));
    add({ __name__: "node_filesystem_free_bytes", ...l }, (k) => (fs(k), (avail + Math.floor(blocks * 0.05)) * 4096));
    constant({ __name__: "node_filesystem_files", ...l }, files);
    add({ __name__: "node_filesystem_files_free", ...l }, (k) => (fs(k), filesFree));
    constant({ __name__: "node_filesystem_readonly", ...l }, 0);
    constant({ __name__: "node_filesystem_device_error", ...l }, 0);
  }

  // --- timex: 14 constant, 4 moving (microsecond precision)
  for (const name of [
    "sync_status",
    "status",
    "tai_offset_seconds",
    "loop_time_constant",
    "tick_seconds",
    "pps_calibration_total",
    "pps_error_total",
    "pps_frequency_hertz",
    "pps_jitter_seconds",
    "pps_jitter_total",
    "pps_shift_seconds",
    "pps_stability_exceeded_total",
    "pps_stability_hertz",
    "frequency_adjustment_ratio",
  ])
    constant(
      { __name__: `node_timex_${name}` },
      name === "sync_status"
        ? 1
        : name === "status"
          ? 8193
          : name === "tick_seconds"
            ? 0.01
            : name === "loop_time_constant"
              ? 7
              : name === "frequency_adjustment_ratio"
                ? 1.0000124
                : 0,
    );
  let offset = 0;
  add({ __name__: "node_timex_offset_seconds" }, () => (offset = round(offset * 0.8 + gauss() * 1e-4, 6)));
  walk({ __name__: "node_timex_maxerror_seconds" }, 1e5, () => 500, 1e-6);
  walk({ __name__: "node_timex_estimated_error_seconds" }, 50, () => 3, 1e-6, 0.3);
  constant({ __name__: "node_timex_offset_sampled" }, 1);

  // --- vmstat, netstat, sockstat
  counter({ __name__: "node_vmstat_pgfault" }, (k) => act(k) * 200_000 * (1 + 0.3 * gauss()));
  counter({ __name__: "node_vmstat_pgmajfault" }, () => (r() < 0.05 ? r() * 10 : 0));
  counter({ __name__: "node_vmstat_pgpgin" }, (k) => (r() < 0.3 ? act(k) * 500 * r() : 0));
  counter({ __name__: "node_vmstat_pgpgout" }, (k) => act(k) * 10_000 * Math.max(0, 1 + 0.6 * gauss()));
  for (const name of ["pswpin", "pswpout", "oom_kill"]) constant({ __name__: `node_vmstat_${name}` }, 0);
  for (const [name, rate] of [
    ["Tcp_InSegs", 2000],
    ["Tcp_OutSegs", 1800],
    ["Tcp_ActiveOpens", 30],
    ["Tcp_PassiveOpens", 60],
    ["Tcp_RetransSegs", 2],
    ["Udp_InDatagrams", 50],
    ["Udp_OutDatagrams", 50],
    ["IpExt_InOctets", 3e6],
    ["IpExt_OutOctets", 1e6],
    ["TcpExt_TCPSynRetrans", 0.3],
    ["Icmp_InMsgs", 0.5],
    ["Icmp_OutMsgs", 0.5],
  ] as const)
    counter({ __name__: `node_netstat_${name}` }, (k) => rate * act(k) * Math.max(0, 1 + 0.5 * gauss()));
  let estab = 20 + Math.floor(r() * 200);
  add({ __name__: "node_netstat_Tcp_CurrEstab" }, () => (estab = Math.max(1, estab + Math.round(gauss() * 2))));
  for (const name of [
    "Icmp_InErrors",
    "Tcp_InErrs",
    "Tcp_OutRsts",
    "TcpExt_ListenDrops",
    "TcpExt_ListenOverflows",
    "TcpExt_SyncookiesFailed",
    "TcpExt_SyncookiesRecv",
    "TcpExt_SyncookiesSent",
    "Udp_InErrors",
    "Udp_NoPorts",
    "Udp_RcvbufErrors",
    "Udp_SndbufErrors",
    "UdpLite_InErrors",
    "Ip_Forwarding",
    "Ip6_InOctets",
    "Ip6_OutOctets",
    "Icmp6_InErrors",
  ])
    rare({ __name__: `node_netstat_${name}` }, name === "Tcp_OutRsts" || name === "Udp_NoPorts" ? 0.1 : 0);
  add({ __name__: "node_sockstat_TCP_inuse" }, () => estab + 12);
  walk({ __name__: "node_sockstat_sockets_used" }, 300 + r() * 200, () => 2, 1, 0.5);
  walk({ __name__: "node_sockstat_TCP_alloc" }, 50 + r() * 200, () => 2, 1, 0.5);
  walk({ __name__: "node_sockstat_TCP_tw" }, 10 + r() * 50, () => 3, 1, 0.7);
  walk({ __name__: "node_sockstat_TCP_mem_bytes" }, 20 + r() * 100, () => 2, 4096, 0.6);
  walk({ __name__: "node_sockstat_UDP_inuse" }, 5, () => 0.5, 1, 0.05);
  for (const name of [
    "TCP_orphan",
    "TCP_mem",
    "UDP_mem",
    "UDP_mem_bytes",
    "UDPLITE_inuse",
    "RAW_inuse",
    "FRAG_inuse",
    "FRAG_memory",
    "TCP6_inuse",
    "UDP6_inuse",
    "UDPLITE6_inuse",
    "RAW6_inuse",
  ])
    constant({ __name__: `node_sockstat_${name}` }, name === "TCP6_inuse" ? 4 : 0);

  // --- the exporter's collectors: 40 durations (full float precision) and 40 successes
  const collectors = [
    "arp",
    "bcache",
    "bonding",
    "btrfs",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "dmi",
    "edac",
    "entropy",
    "fibrechannel",
    "filefd",
    "filesystem",
    "hwmon",
    "infiniband",
    "ipvs",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "nfs",
    "nfsd",
    "nvme",
    "os",
    "powersupplyclass",
    "pressure",
    "rapl",
    "schedstat",
    "selinux",
    "sockstat",
    "softnet",
    "stat",
    "tapestats",
    "textfile",
    "thermal_zone",
    "time",
    "timex",
  ];
  for (const collector of collectors) {
    const base = 0.00005 + r() * 0.004;
    // Go's Duration.Seconds(): nanoseconds / 1e9
    add({ __name__: "node_scrape_collector_duration_seconds", collector }, () => round(base * (0.6 + r() * 0.9), 9));
    constant({ __name__: "node_scrape_collector_success", collector }, 1);
  }

  // --- pressure stall information: microseconds as seconds (6 decimals)
  for (const [name, scale] of [
    ["cpu_waiting", 2e5],
    ["io_waiting", 5e4],
    ["io_stalled", 3e4],
    ["memory_waiting", 1e3],
    ["memory_stalled", 500],
  ] as const)
    counter({ __name__: `node_pressure_${name}_seconds_total` }, (k) => scale * act(k) * r(), 1e-6, r() * 1e12);

  // --- kernel and host gauges
  let l1 = busy * 4;
  let l5 = l1;
  let l15 = l1;
  let loadAt = -1;
  const load = (k: number) => {
    if (k === loadAt) return;
    loadAt = k;
    const runnable = Math.max(0, act(k) * 4 + gauss() * 0.5);
    l1 = l1 * Math.exp(-15 / 60) + runnable * (1 - Math.exp(-15 / 60));
    l5 = l5 * Math.exp(-15 / 300) + runnable * (1 - Math.exp(-15 / 300));
    l15 = l15 * Math.exp(-15 / 900) + runnable * (1 - Math.exp(-15 / 900));
  };
  add({ __name__: "node_load1" }, (k) => (load(k), round(l1, 2)));
  add({ __name__: "node_load5" }, (k) => (load(k), round(l5, 2)));
  add({ __name__: "node_load15" }, (k) => (load(k), round(l15, 2)));
  add({ __name__: "node_procs_running" }, (k) => 1 + Math.round(Math.max(0, act(k) * 4 + gauss() * 0.7)));
  add({ __name__: "node_procs_blocked" }, (k) => (r() < act(k) * 0.1 ? 1 : 0));
  counter({ __name__: "node_context_switches_total" }, (k) => act(k) * 150_000 * (1 + 0.2 * gauss()), 1, r() * 1e10);
  counter({ __name__: "node_intr_total" }, (k) => 15_000 + act(k) * 80_000 * (1 + 0.2 * gauss()), 1, r() * 1e10);
  counter({ __name__: "node_forks_total" }, (k) => act(k) * 100 * r(), 1, r() * 1e7);
  const boot = 1_690_000_000 + Math.floor(r() * 5_000_000);
  constant({ __name__: "node_boot_time_seconds" }, boot);
  const phase = instancePhase(i) / 1000;
  add({ __name__: "node_time_seconds" }, (k) => boot + 9_000_000 + k * 15 + phase + r() * 0.002);
  constant({ __name__: "node_entropy_available_bits" }, 256);
  constant({ __name__: "node_entropy_pool_size_bits" }, 256);
  walk({ __name__: "node_filefd_allocated" }, 1000 + r() * 3000, () => 3, 1, 0.8);
  constant({ __name__: "node_filefd_maximum" }, 2 ** 63); // 9223372036854775807 as Prometheus reads it
  walk({ __name__: "node_nf_conntrack_entries" }, r() * 5000, (k) => 20 * act(k));
  constant({ __name__: "node_nf_conntrack_entries_limit" }, 262144);
  walk({ __name__: "node_arp_entries", device: "eth0" }, 3 + r() * 5, () => 0.5, 1, 0.01);
  for (const name of [
    "uname_info",
    "os_info",
    "os_version",
    "exporter_build_info",
    "dmi_info",
    "selinux_enabled",
    "textfile_scrape_error",
  ])
    constant(
      { __name__: `node_${name}` },
      name === "selinux_enabled" || name === "textfile_scrape_error" ? 0 : name === "os_version" ? 22.04 : 1,
    );
  for (const queue of ["rx", "tx"])
    for (const ip of ["v4", "v6"]) walk({ __name__: "node_udp_queues", queue, ip }, 0, () => 1, 1, 0.01);

  // --- the exporter process: Go runtime (33) and process (7), promhttp (6)
  let gcAt = 0;
  const gcq = [0.00002, 0.00004, 0.00006, 0.0001, 0.0004].map((x) => x * (0.5 + r()));
  for (const [q, base] of [
    ["0", gcq[0]],
    ["0.25", gcq[1]],
    ["0.5", gcq[2]],
    ["0.75", gcq[3]],
    ["1", gcq[4]],
  ] as const) {
    let v = base;
    add({ __name__: "go_gc_duration_seconds", quantile: q }, (k) => {
      // a summary's quantiles move when a GC ran since the last scrape (every ~2 min here)
      if (k >= gcAt && q === "1") gcAt = k + 4 + Math.floor(r() * 8);
      if (k === gcAt - 1 || r() < 0.1) v = round(base * (0.7 + r() * 0.6), 9);
      return v;
    });
  }
  let gcSum = r() * 10;
  let gcCount = Math.floor(r() * 1e5);
  add({ __name__: "go_gc_duration_seconds_sum" }, () =>
    r() < 0.12 ? (gcCount++, (gcSum = round(gcSum + 0.0001 * r(), 9))) : gcSum,
  );
  add({ __name__: "go_gc_duration_seconds_count" }, () => gcCount);
  walk({ __name__: "go_goroutines" }, 8, () => 1, 1, 0.05);
  constant({ __name__: "go_threads" }, 7 + Math.floor(r() * 4));
  constant({ __name__: "go_info", version: "go1.19.8" }, 1);
  counter({ __name__: "go_memstats_alloc_bytes_total" }, () => 500_000 + r() * 200_000, 1, r() * 1e12);
  counter({ __name__: "go_memstats_mallocs_total" }, () => 6000 + r() * 2000, 1, r() * 1e9);
  counter({ __name__: "go_memstats_frees_total" }, () => 6000 + r() * 2000, 1, r() * 1e9);
  constant({ __name__: "go_memstats_lookups_total" }, 0);
  // the heap grows between collections and drops at each (a sawtooth); alloc_bytes = heap_alloc_bytes
  let heap = 2_000_000;
  let heapAt = -1;
  const heapStep = (k: number) => {
    if (k === heapAt) return heap;
    heapAt = k;
    heap = r() < 0.12 ? 1_800_000 + Math.floor(r() * 400_000) : heap + 300_000 + Math.floor(r() * 400_000);
    return heap;
  };
  add({ __name__: "go_memstats_alloc_bytes" }, (k) => heapStep(k));
  add({ __name__: "go_memstats_heap_alloc_bytes" }, (k) => heapStep(k));
  add({ __name__: "go_memstats_heap_objects" }, (k) => Math.floor(heapStep(k) / 180));
  for (const name of [
    "heap_idle_bytes",
    "heap_inuse_bytes",
    "heap_released_bytes",
    "heap_sys_bytes",
    "next_gc_bytes",
    "stack_inuse_bytes",
    "mspan_inuse_bytes",
  ])
    walk({ __name__: `go_memstats_${name}` }, 300 + r() * 500, () => 4, 8192, 0.3);
  for (const name of [
    "buck_hash_sys_bytes",
    "gc_sys_bytes",
    "mcache_inuse_bytes",
    "mcache_sys_bytes",
    "mspan_sys_bytes",
    "other_sys_bytes",
    "stack_sys_bytes",
    "sys_bytes",
  ])
    constant({ __name__: `go_memstats_${name}` }, Math.floor(r() * 3000) * 1024);
  let lastGc = 1_700_000_000 + r() * 1e6;
  add({ __name__: "go_memstats_last_gc_time_seconds" }, (k) => (r() < 0.12 ? (lastGc += 15 + r()) : lastGc) + k * 0);
  counter({ __name__: "process_cpu_seconds_total" }, () => 2 + r() * 4, 0.01, r() * 1e6);
  constant({ __name__: "process_max_fds" }, 1048576);
  walk({ __name__: "process_open_fds" }, 9, () => 1, 1, 0.05);
  walk({ __name__: "process_resident_memory_bytes" }, 4000 + r() * 3000, () => 8, 4096, 0.2);
  constant({ __name__: "process_start_time_seconds" }, boot + 30.52);
  walk({ __name__: "process_virtual_memory_bytes" }, 180_000 + r() * 10_000, () => 16, 4096, 0.05);
  constant({ __name__: "process_virtual_memory_max_bytes" }, 18446744073709552000);
  counter({ __name__: "promhttp_metric_handler_requests_total", code: "200" }, () => 1, 1, r() * 1e6);
  constant({ __name__: "promhttp_metric_handler_requests_total", code: "500" }, 0);
  constant({ __name__: "promhttp_metric_handler_requests_total", code: "503" }, 0);
  constant({ __name__: "promhttp_metric_handler_requests_in_flight" }, 1);
  constant({ __name__: "promhttp_metric_handler_errors_total", cause: "encoding" }, 0);
  constant({ __name__: "promhttp_metric_handler_errors_total", cause: "gathering" }, 0);

  // --- what Prometheus adds per target
  const page = out.length + 5;
  constant({ __name__: "up" }, 1);
  add({ __name__: "scrape_duration_seconds" }, () => round(0.02 + r() * 0.03, 9));
  constant({ __name__: "scrape_samples_scraped" }, page - 5);
  constant({ __name__: "scrape_samples_post_metric_relabeling" }, page - 5);
  constant({ __name__: "scrape_series_added" }, 0);
  return out;
}
