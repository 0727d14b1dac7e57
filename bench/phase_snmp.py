"""phase_snmp.py: 5,000 SNMP agents on one snmpd polled by monitord, and
the same workload through Nagios 4 + check_snmp (probe_bench.py --only
snmp).
"""
import os
import random
import re
import resource
import time
from benchlib import (BenchError, CLEANUP, OUR_SIDS, addr, fmt, harness,
    proc_cpu_s, proc_mem_kib, run_timed, table)
from monitord_run import (ms_str, probe_features, run_monitord,
    start_postgres)
from phase_nagios import (nagios_base, nagios_finish, nagios_obj,
    nagios_timing, run_nagios_cfg)


# -------------------------------------------------------------------- snmp

# SNMPv2-MIB's snmp group, which snmpd keeps for the whole agent (all its
# addresses): what the agent received and answered, counted at the agent.
SNMPD_COUNTERS = [
    ("in_pkts", ".1.3.6.1.2.1.11.1.0"),           # snmpInPkts
    ("out_pkts", ".1.3.6.1.2.1.11.2.0"),          # snmpOutPkts
    ("in_total_req_vars", ".1.3.6.1.2.1.11.13.0"),  # varbinds read
    ("in_get_requests", ".1.3.6.1.2.1.11.15.0"),  # snmpInGetRequests
    ("in_get_nexts", ".1.3.6.1.2.1.11.16.0"),     # snmpInGetNexts
    ("out_too_bigs", ".1.3.6.1.2.1.11.20.0"),     # snmpOutTooBigs
    ("silent_drops", ".1.3.6.1.2.1.11.31.0"),     # snmpSilentDrops
]
OID_SYSUPTIME = ".1.3.6.1.2.1.1.3.0"
OID_IFDESCR = ".1.3.6.1.2.1.2.2.1.2"
OID_IFOPER = ".1.3.6.1.2.1.2.2.1.8"
# The kernel's limit on one argument (MAX_ARG_STRLEN): snmpd gets its
# endpoints as one comma-separated argument.
MAX_ARG_STRLEN = 131072


def snmp_tool(tool, addr, port, *args, timeout=20):
    """Runs Debian's snmpget/snmpwalk against udp:addr:port with v2c and
    the community public; returns (exit status, stdout)."""
    env = dict(os.environ, MIBS="")
    rc, _, out, err = run_timed(
        ["/usr/bin/" + tool, "-v2c", "-c", "public", "-On", "-t", "2",
         "-r", "1", "udp:%s:%d" % (addr, port)] + list(args), timeout,
        env=env)
    return rc, out + err


def snmpd_counters(addr, port):
    """The agent's SNMPv2-MIB counters, read with one GET (which itself
    adds one PDU in and one out)."""
    rc, out = snmp_tool("snmpget", addr, port,
                        *[oid for _, oid in SNMPD_COUNTERS])
    vals = {}
    for name, oid in SNMPD_COUNTERS:
        m = re.search(r"^%s = \w+: (\d+)" % re.escape(oid), out, re.M)
        vals[name] = int(m.group(1)) if m else None
    if rc != 0 or vals["in_pkts"] is None:
        raise BenchError("snmpd does not answer its counters at %s:%d: %s"
                         % (addr, port, out.strip()[:200]))
    return vals


def udp_stats():
    """The machine's Udp line of /proc/net/snmp, by field name."""
    with open("/proc/net/snmp") as f:
        lines = [ln.split() for ln in f if ln.startswith("Udp:")]
    return {k: int(v) for k, v in zip(lines[0][1:], lines[1][1:])}


def counter_delta(a, b, key):
    if a is None or b is None or a.get(key) is None or b.get(key) is None:
        return None
    return b[key] - a[key]


def write_snmp_conf(ctx, path, *, instance, metrics_port, addrs, port,
                    interval_ms, if_names):
    """A monitord.yaml polling one agent per address of addrs (all on
    port, v2c, community public): sysuptime and interfaces (if_names) per
    host."""
    feats = ctx.features or {"metrics": True, "scheduler": True}
    # notice: the hard state changes (a timeout, say) stay in the log.
    out = ["# written by bench/probe_bench.py (snmp phase)",
           "instance: %s" % instance,
           "log_level: notice"]
    if feats["metrics"]:
        out += ["metrics:", "  listen: 127.0.0.1:%d" % metrics_port]
    if feats["scheduler"]:
        out += ["scheduler:", "  max_rate: 0", "  max_in_flight: 0"]
    out += ["snmp:",
            "  credentials:",
            "    - {name: pub, version: 2c, community: public}",
            "defaults:",
            "  interval: %s" % ms_str(interval_ms),
            "  retry_interval: 2s",
            "  timeout: 1000ms",
            "  max_attempts: 3",
            "hosts:"]
    tpl = ("  - name: s%05d\n    address: %s\n"
           "    snmp: {credential: pub, port: %d, timeout: 1000ms, "
           "retries: 2}\n    checks:\n      - type: sysuptime")
    if if_names:
        # no interfaces: the engine's cost for one-varbind GETs
        tpl += ("\n      - type: interfaces\n        names: [%s]"
                % ", ".join(if_names))
    for i, a in enumerate(addrs):
        out.append(tpl % (i + 1, a, port))
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def write_nagios_snmp(d, addrs, port, interval_s, if_index):
    """A private Nagios 4 for the SNMP workload: one host per address of
    addrs, no host check, and two check_snmp services per host that match
    monitord's two checks: sysUpTime.0, and ifOperStatus of the interfaces
    (if_index: their ifIndex values), every interval_s."""
    cfg, objs = nagios_base(d)
    base = ("$USER1$/check_snmp -H $HOSTADDRESS$ -p %d -P 2c -C public "
            "-t 10 -o " % port)
    objs += [
        nagios_obj("command", command_name="bench_snmp_uptime",
                   command_line=base + OID_SYSUPTIME),
        nagios_obj("command", command_name="bench_snmp_ifoper",
                   command_line=base + ",".join(
                       "%s.%d" % (OID_IFOPER, i) for i in if_index)),
    ]
    timing = nagios_timing(interval_s)
    host = dict(timing, active_checks_enabled="0")
    objs.append(nagios_obj("host", name="bench-snmp-host", **host))
    objs.append(nagios_obj("service", name="bench-snmp-service", **timing))
    for i, a in enumerate(addrs):
        name = "s%05d" % (i + 1)
        objs.append(nagios_obj("host", use="bench-snmp-host",
                               host_name=name, alias=name, address=a))
        objs.append(nagios_obj("service", use="bench-snmp-service",
                               host_name=name,
                               service_description="sysUpTime",
                               check_command="bench_snmp_uptime"))
        objs.append(nagios_obj("service", use="bench-snmp-service",
                               host_name=name,
                               service_description="ifOperStatus",
                               check_command="bench_snmp_ifoper"))
    nagios_finish(d, objs)
    return cfg, base


def snmp_port_candidate():
    """A UDP port outside the kernel's ephemeral range that nothing holds
    on any address: a wildcard bind fails if any socket has the port.  An
    ephemeral port could be taken by some client's socket between this
    check and snmpd's bind."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    ranges = [r for r in (range(max(1024, hi + 1), 65536),
                          range(10000, min(lo, 65536))) if len(r) > 100]
    for _ in range(200):
        port = random.choice(random.choice(ranges))
        if not harness.udp_bound("0.0.0.0", port):
            return port
    raise BenchError("no free UDP port outside the ephemeral range")


def start_snmpd(ctx, addrs):
    """One Debian snmpd answering v2c 'public' on every address of addrs
    (one port).  Returns the harness.Snmpd."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if len(addrs) + 64 > soft:
        raise BenchError("snmpd needs one fd per address: %d addresses "
                         "but RLIMIT_NOFILE is %d (hard %d)"
                         % (len(addrs), soft, hard))
    for attempt in range(3):
        port = snmp_port_candidate()
        agent = harness.Snmpd(ctx.path("snmpd"), addrs,
                              "rocommunity public 127.0.0.0/8\n", port=port)
        if len(agent.endpoints()) >= MAX_ARG_STRLEN:
            raise BenchError("%d snmpd endpoints make a %d-byte argument, "
                             "over the kernel's %d"
                             % (len(addrs), len(agent.endpoints()),
                                MAX_ARG_STRLEN))
        CLEANUP.add(agent.stop)
        t0 = time.monotonic()
        try:
            agent.start()
            break
        except (RuntimeError, AssertionError) as e:
            agent.stop()
            tail = agent.log()[-600:]
            harness.log("snmpd on port %d did not start (%s): %s"
                        % (port, e, tail.strip().splitlines()[-2:]))
            if attempt == 2:
                raise BenchError("snmpd on %d addresses did not start: "
                                 "%s\n%s" % (len(addrs), e, tail))
    OUR_SIDS.append(agent.proc.pid)
    harness.log("snmpd (pid %d) answers on %d addresses %s-%s port %d, "
                "ready in %.1f s" % (agent.proc.pid, len(addrs), addrs[0],
                                     addrs[-1], agent.port,
                                     time.monotonic() - t0))
    return agent


def interfaces_of(addr, port):
    """[(ifIndex, ifDescr)] the agent reports, by ifIndex."""
    rc, out = snmp_tool("snmpwalk", addr, port, OID_IFDESCR)
    found = []
    for m in re.finditer(r'^%s\.(\d+) = STRING: "?([^"\n]*)"?$'
                         % re.escape(OID_IFDESCR), out, re.M):
        found.append((int(m.group(1)), m.group(2)))
    if rc != 0 or not found:
        raise BenchError("snmpwalk of ifDescr at %s:%d failed: %s"
                         % (addr, port, out.strip()[:300]))
    return sorted(found)


def snmp_db_agents(ctx, instance):
    """{state: count} of the agent checks ("snmp") in current_state."""
    try:
        rows = ctx.pg.query("SELECT state, count(*) FROM current_state "
                            "WHERE source = '%s' AND check_name = 'snmp' "
                            "GROUP BY state" % instance)
        return {r[0]: int(r[1]) for r in rows}
    except Exception as e:  # the schema is the lead's; report, go on
        return {"error": str(e).strip()[:200]}


def snmp_db_by_check(ctx, instance):
    """{check_name pattern: {state: count}}, interfaces folded into if:*."""
    try:
        rows = ctx.pg.query(
            "SELECT CASE WHEN check_name LIKE 'if:%%' THEN 'if:*' ELSE "
            "check_name END, state, count(*) FROM current_state WHERE "
            "source = '%s' GROUP BY 1, 2 ORDER BY 1, 2" % instance)
        out = {}
        for name, state, count in rows:
            out.setdefault(name, {})[state] = int(count)
        return out
    except Exception as e:
        return {"error": str(e).strip()[:200]}


def run_monitord_snmp(ctx, label, agent, addrs, if_names, *, interval_s,
                      warmup_s, window_s, slice_s=None, base=None):
    """monitord polling len(addrs) agents of one snmpd; the generic
    figures of run_monitord plus the agent's counters over the window."""
    n = len(addrs)
    first = addrs[0]

    def writer(path, instance, mport):
        write_snmp_conf(ctx, path, instance=instance, metrics_port=mport,
                        addrs=addrs, port=agent.port,
                        interval_ms=int(round(interval_s * 1000)),
                        if_names=if_names)

    def snap():
        return dict(snmpd=snmpd_counters(first, agent.port),
                    snmpd_cpu_s=proc_cpu_s(agent.proc.pid),
                    udp=udp_stats(), t=time.monotonic())

    r = run_monitord(ctx, label, interval_s=interval_s, warmup_s=warmup_s,
                     window_s=window_s, base=base, writer=writer,
                     targets=n, db_rows=n * (2 + len(if_names)),
                     snap=snap if base is not None else None,
                     slice_s=slice_s,
                     describe="%d SNMP agents (sysuptime%s)"
                     % (n, " + interfaces " + "/".join(if_names)
                        if if_names else " only"))
    r["agents"] = n
    r["varbinds_per_get"] = 1 + (4 * len(if_names) if if_names else 0)
    r["check_runs_planned"] = (2 if if_names else 1) * n / interval_s
    if base is None:
        return r
    kinds = r.get("by_kind") or {}
    runs = None
    if kinds.get("sysuptime") is not None and \
            (kinds.get("interfaces") is not None or not if_names):
        runs = kinds["sysuptime"] + (kinds.get("interfaces") or 0)
    r["check_runs"] = runs
    slices = r.get("slices") or []
    if len(slices) >= 2:
        a, b = slices[0], slices[-1]
        dt = b["snap"]["t"] - a["snap"]["t"]
        # Each read of the counters is one PDU in and one answer: those
        # after the first are in the deltas.
        reads = len(slices) - 1
        s0, s1 = a["snap"]["snmpd"], b["snap"]["snmpd"]
        pin = counter_delta(s0, s1, "in_pkts")
        pout = counter_delta(s0, s1, "out_pkts")
        r["pdus_in"] = pin - reads if pin is not None else None
        r["pdus_answered"] = pout - reads if pout is not None else None
        r["agent_counters"] = {k: counter_delta(s0, s1, k)
                               for k, _ in SNMPD_COUNTERS}
        r["snap_window_s"] = dt
        r["pdus_in_per_s"] = r["pdus_in"] / dt
        r["pdus_answered_per_s"] = r["pdus_answered"] / dt
        vb = counter_delta(s0, s1, "in_total_req_vars")
        r["varbinds_per_s"] = vb / dt if vb is not None else None
        r["snmpd_cores"] = (b["snap"]["snmpd_cpu_s"] -
                            a["snap"]["snmpd_cpu_s"]) / dt
        r["udp"] = {k: b["snap"]["udp"][k] - a["snap"]["udp"].get(k, 0)
                    for k in b["snap"]["udp"]}
        r["cpu_s_snap"] = b["cpu_s"] - a["cpu_s"]
        r["slice_figures"] = snmp_slices(slices)
    # monitord's own counters (window deltas), where it exports them; the
    # agent's counters stand in for the PDUs where it does not.
    eng = r.get("snmp_engine") or {}
    dt = r["window_measured_s"]
    cpu = r["cpu_s"]

    def eng_d(name):
        return eng.get("monitord_snmp_%s_total" % name)
    r["requests"] = eng_d("requests")
    r["pdus_sent"] = eng_d("pdus_sent")
    r["responses"] = eng_d("responses")
    r["engine_timeouts"] = eng_d("timeouts")
    r["engine_unreachable"] = eng_d("unreachable")
    r["engine_auth_errors"] = eng_d("auth_errors")
    answered = r["responses"]
    if answered is None:
        answered = r.get("pdus_answered")
        r["notes"].append("no monitord_snmp_responses_total: PDUs answered "
                          "counted at the agent (snmpOutPkts)")
        if r.get("cpu_s_snap") is not None:
            cpu = r["cpu_s_snap"]
            dt = r["snap_window_s"]
    else:
        r["cpu_s_snap"] = None
    for k in ("requests", "pdus_sent", "responses"):
        if r[k] is not None:
            r[k + "_per_s"] = r[k] / r["window_measured_s"]
    if answered:
        r["cpu_us_per_pdu"] = cpu / answered * 1e6
        if base is not None and base.get("core_frac") is not None:
            r["cpu_us_per_pdu_above_base"] = \
                (cpu / dt - base["core_frac"]) / (answered / dt) * 1e6
    if r["requests"]:
        r["cpu_us_per_request"] = r["cpu_s"] / r["requests"] * 1e6
    if runs:
        r["check_runs_per_s"] = runs / r["window_measured_s"]
        r["cpu_us_per_check_run"] = r["cpu_s"] / runs * 1e6
        sent = r["pdus_sent"] if r["pdus_sent"] is not None else \
            r.get("pdus_in")
        if sent is not None:
            r["pdus_per_check_run"] = sent / runs
        if r["requests"] is not None:
            r["requests_per_check_run"] = r["requests"] / runs
    r["db_agents"] = snmp_db_agents(ctx, r["instance"])
    r["db_by_check"] = snmp_db_by_check(ctx, r["instance"])
    agents = r["db_agents"]
    if "error" not in agents:
        r["agents_not_ok_db"] = sum(v for k, v in agents.items()
                                    if k != "OK")
        r["agents_missing_db"] = n - sum(agents.values())
    parts = [r.get("nonok_results"), r.get("checks_not_ok"),
             r.get("agents_not_ok_db"), r.get("agents_missing_db")] + [
        r.get(k) for k in ("engine_timeouts", "engine_unreachable",
                           "engine_auth_errors") if k in r and
        r.get("responses") is not None]
    if all(v is not None for v in parts):
        r["timeouts"] = int(sum(parts))
    return r


def snmp_slices(slices):
    """Per-slice rates between consecutive snapshots of the window."""
    out = []
    for a, b in zip(slices, slices[1:]):
        dt = b["snap"]["t"] - a["snap"]["t"]
        if dt <= 0:
            continue
        s0, s1 = a["snap"]["snmpd"], b["snap"]["snmpd"]
        pin = counter_delta(s0, s1, "in_pkts")
        pout = counter_delta(s0, s1, "out_pkts")
        vb = counter_delta(s0, s1, "in_total_req_vars")
        runs = None
        if a["probes"] and b["probes"]:
            runs = sum(b["probes"].get(k, 0) - a["probes"].get(k, 0)
                       for k in ("sysuptime", "interfaces"))
        cpu = b["cpu_s"] - a["cpu_s"]
        e0, e1 = a.get("engine") or {}, b.get("engine") or {}
        key = "monitord_snmp_responses_total"
        answered = e1[key] - e0[key] if key in e0 and key in e1 else \
            (pout - 1 if pout is not None else None)
        key = "monitord_snmp_requests_total"
        reqs = e1[key] - e0[key] if key in e0 and key in e1 else None
        out.append(dict(
            t0=a["t"], t1=b["t"], dt=dt,
            check_runs_per_s=runs / dt if runs is not None else None,
            pdus_in_per_s=(pin - 1) / dt if pin is not None else None,
            pdus_answered_per_s=(pout - 1) / dt if pout is not None
            else None,
            varbinds_per_s=vb / dt if vb is not None else None,
            cores=cpu / dt,
            requests_per_s=reqs / dt if reqs is not None else None,
            responses_per_s=answered / dt if answered is not None else None,
            cpu_us_per_pdu=cpu / answered * 1e6 if answered else None,
            snmpd_cores=(b["snap"]["snmpd_cpu_s"] -
                         a["snap"]["snmpd_cpu_s"]) / dt))
    return out


def run_nagios_snmp(ctx, agent, addrs, hosts, if_index, interval_s,
                    warmup_s, window_s):
    d = ctx.path("nagios-snmp-%d" % hosts)
    cfg, base = write_nagios_snmp(d, addrs[:hosts], agent.port, interval_s,
                                  if_index)
    first = addrs[0]

    def snap():
        return dict(snmpd=snmpd_counters(first, agent.port),
                    snmpd_cpu_s=proc_cpu_s(agent.proc.pid),
                    t=time.monotonic())
    r = run_nagios_cfg(ctx, cfg, d, "snmp-%d" % hosts, hosts=hosts,
                       services=2 * hosts, host_checks=0,
                       interval_s=interval_s, warmup_s=warmup_s,
                       window_s=window_s, snap=snap)
    r["command"] = base + "OID[,OID...]"
    s0, s1 = r.get("snap0"), r.get("snap1")
    if s0 and s1:
        dt = s1["t"] - s0["t"]
        pin = counter_delta(s0["snmpd"], s1["snmpd"], "in_pkts")
        if pin is not None:
            r["pdus_in_per_s"] = (pin - 1) / dt
        r["snmpd_cores"] = (s1["snmpd_cpu_s"] - s0["snmpd_cpu_s"]) / dt
    return r


def phase_snmp(ctx):
    p = ctx.p
    n = ctx.args.snmp_agents or p["snmp_agents"]
    iv = p["snmp_interval_s"]
    res = {"agents": n, "interval_s": iv, "nagios4": []}
    ctx.results["snmp"] = res
    probe_features(ctx)
    if not ctx.features["metrics"]:
        ctx.note_missing("the snmp phase counts check runs from /metrics; "
                         "without it there are no check-run figures")
    start_postgres(ctx)
    addrs = [addr(65, i) for i in range(n)]
    agent = start_snmpd(ctx, addrs)
    res["snmpd_port"] = agent.port
    try:
        for a in (addrs[0], addrs[-1]):
            rc, out = snmp_tool("snmpget", a, agent.port, OID_SYSUPTIME)
            if rc != 0 or "Timeticks" not in out:
                raise BenchError("snmpd does not answer at %s:%d: %s"
                                 % (a, agent.port, out.strip()[:200]))
        ifs = interfaces_of(addrs[0], agent.port)
        res["interfaces"] = ["%s (ifIndex %d)" % (nm, i) for i, nm in ifs]
        if_names = [nm for _, nm in ifs]
        if_index = [i for i, _ in ifs]
        harness.log("the agent reports %d interfaces: %s"
                    % (len(ifs), ", ".join(res["interfaces"])))
        try:
            rss0 = proc_mem_kib(agent.proc.pid).get("VmRSS")
            res["snmpd_vmrss_kib"] = rss0
            res["snmpd_fds"] = len(os.listdir("/proc/%d/fd"
                                              % agent.proc.pid))
        except OSError:
            pass

        warm = ctx.args.warmup or p["snmp_warmup_s"]
        if warm < 2 * iv:
            warm = 2 * iv
        win = p["snmp_window_s"]
        runs = []
        res["monitord"] = runs
        try:
            base = run_monitord_snmp(ctx, "snmp-base-1", agent, addrs[:1],
                                     if_names, interval_s=iv,
                                     warmup_s=p["snmp_base_s"], window_s=2)
            base["is_base"] = True
            runs.append(base)
            r = run_monitord_snmp(ctx, "snmp-%d" % n, agent, addrs,
                                  if_names, interval_s=iv, warmup_s=warm,
                                  window_s=win, slice_s=p["snmp_slice_s"],
                                  base=base)
            runs.append(r)
            # The same agents with one one-varbind GET each per
            # interval: what the engine costs per request, without the
            # interfaces check's 16 varbinds and its arithmetic.
            r = run_monitord_snmp(ctx, "snmp-%d-uptime" % n, agent, addrs,
                                  [], interval_s=iv, warmup_s=warm,
                                  window_s=p["snmp_uptime_window_s"],
                                  slice_s=p["snmp_slice_s"], base=base)
            runs.append(r)
        except BenchError as e:
            harness.log("monitord SNMP run failed: %s" % e)
            runs.append(dict(label="snmp-%d" % n, agents=n, error=str(e),
                             notes=[]))
        finally:
            if runs:
                print_snmp_monitord(runs, if_names)
        # Let snmpd settle before Nagios: monitord's last answers drain.
        time.sleep(3)
        try:
            for hosts in ctx.args.snmp_nagios_hosts or \
                    p["snmp_nagios_hosts"]:
                hosts = min(hosts, n)
                if hosts <= 0:
                    continue
                try:
                    r = run_nagios_snmp(
                        ctx, agent, addrs, hosts, if_index,
                        p["snmp_nagios_interval_s"],
                        p["snmp_nagios_warmup_s"], p["snmp_nagios_window_s"])
                except BenchError as e:
                    harness.log("Nagios 4 (SNMP) with %d hosts failed: %s"
                                % (hosts, e))
                    r = dict(hosts=hosts, error=str(e))
                res["nagios4"].append(r)
                time.sleep(5)
        finally:
            print_snmp_nagios(res["nagios4"])
    finally:
        res["snmpd_log_tail"] = agent.log()[-2000:]
        agent.stop()
    ok = [r for r in res["nagios4"] if r.get("achieved")]
    if ok:
        best = max(ok, key=lambda r: r["achieved"])
        res["nagios_best"], res["nagios_best_hosts"] = best["achieved"], \
            best["hosts"]
    md = [r for r in res.get("monitord", []) if not r.get("is_base")
          and "error" not in r]
    if md and md[0].get("check_runs_per_s") and res.get("nagios_best"):
        res["ratio"] = md[0]["check_runs_per_s"] / res["nagios_best"]
    print_snmp_ratio(res)
    return res


def print_snmp_monitord(runs, if_names):
    rows = []
    for r in runs:
        if r.get("is_base"):
            continue
        if "error" in r:
            rows.append([r["label"], fmt(r.get("agents")), "failed: " +
                         r["error"].splitlines()[0][:70]] + [""] * 9)
            continue
        rows.append([
            r["label"], fmt(r["agents"]),
            "%s (%s)" % (fmt(r.get("check_runs_per_s"), 0),
                         fmt(r.get("check_runs_planned"), 0)),
            fmt(r.get("requests_per_s"), 0),
            "%s / %s" % (fmt(r.get("pdus_sent_per_s"), 0),
                         fmt(r.get("responses_per_s"), 0)),
            "%s / %s" % (fmt(r.get("pdus_in_per_s"), 0),
                         fmt(r.get("pdus_answered_per_s"), 0)),
            "%s / %s" % (fmt(r.get("requests_per_check_run"), 2),
                         fmt(r.get("pdus_per_check_run"), 2)),
            fmt(r.get("varbinds_per_s"), 0),
            "%s / %s / %s" % (fmt(r.get("lateness_p50_s"), 2, 1000),
                              fmt(r.get("lateness_p99_s"), 2, 1000),
                              fmt(r.get("lateness_max_s"), 1, 1000)),
            fmt(r.get("snmpd_cores"), 3)])
    win = [r for r in runs if "window_s" in r and not r.get("is_base")]
    table("monitord SNMP steady state: one snmpd on N addresses, sysuptime "
          "+ interfaces (%s) per agent%s" % (
              ", ".join(if_names),
              ", every %g s, warm-up %d s, window %d s" % (
                  win[0]["interval_s"], win[0]["warmup_s"],
                  win[0]["window_s"]) if win else ""),
          ["run", "agents", "check runs/s (plan)", "requests/s",
           "PDUs/s sent / answered", "at agent in / out",
           "requests / PDUs per check run", "varbinds/s",
           "late p50/p99/max ms", "snmpd cores"], rows)
    print("  check run: one run of a sysuptime or an interfaces check "
          "(monitord_probes_sent_total{kind=...}); the plan is 2 x agents /"
          " interval.")
    print("  request: one GET or one walk asked of monitord's SNMP engine "
          "(monitord_snmp_requests_total); the GETs of one host that fall "
          "due together are one request.")
    print("  PDU: one request datagram (monitord_snmp_pdus_sent_total), "
          "answered: monitord_snmp_responses_total; at agent: snmpd's "
          "snmpInPkts / snmpOutPkts.")
    rows = []
    for r in runs:
        if "error" in r:
            continue
        if r.get("is_base"):
            rows.append([r["label"], "-", "-", "-", "-",
                         fmt(r.get("core_frac"), 4),
                         fmt((r.get("switches_per_s") or {}).get(
                             "voluntary_ctxt_switches"), 0),
                         fmt(r.get("vmrss_kib"), 1, 1 / 1024),
                         fmt(r.get("vmhwm_kib"), 1, 1 / 1024),
                         "(base)", "(base)"] + ["-"] * 6)
            continue
        rows.append([
            r["label"],
            fmt(r.get("cpu_us_per_pdu"), 2),
            fmt(r.get("cpu_us_per_pdu_above_base"), 2),
            fmt(r.get("cpu_us_per_request"), 2),
            fmt(r.get("cpu_us_per_check_run"), 2),
            fmt(r.get("core_frac"), 4),
            fmt((r.get("switches_per_s") or {}).get(
                "voluntary_ctxt_switches"), 0),
            fmt(r.get("vmrss_kib"), 1, 1 / 1024),
            fmt(r.get("vmhwm_kib"), 1, 1 / 1024),
            fmt(r.get("rss_kib_per_target"), 2),
            fmt(r.get("hwm_kib_per_target"), 2),
            "%s / %s" % (fmt(r.get("engine_timeouts"), 0),
                         fmt(r.get("engine_unreachable"), 0)),
            fmt(r.get("nonok_results"), 0),
            fmt(r.get("checks_not_ok"), 0),
            "%s / %s" % (fmt(r.get("agents_not_ok_db")),
                         fmt(r.get("agents_missing_db"))),
            fmt((r.get("udp") or {}).get("RcvbufErrors")),
            fmt(r.get("skipped"), 0)])
    table("monitord SNMP: cost and timeouts (CPU: monitord's run time from "
          "/proc/PID/schedstat over the window)",
          ["run", "CPU us/PDU answered", "above base", "us/request",
           "us/check run", "cores", "sleeps/s", "VmRSS MiB", "VmHWM MiB",
           "RSS KiB/agent", "HWM KiB/agent", "timeouts / unreachable",
           "non-OK results", "checks not OK", "snmp not OK / missing in db",
           "UDP rcvbuf drops", "skipped"], rows)
    print("  above base: (cores - the 1-agent base's idle cores) / PDUs "
          "answered per second.  non-OK results: window delta of "
          "monitord_check_results_total{result!=\"ok\"};")
    print("  checks not OK: monitord_checks{state!=\"ok\"} at the end "
          "(pending too); snmp: the agent checks in current_state.")
    print("  sleeps/s: monitord's voluntary context switches per second "
          "(/proc/PID/status), i.e. how often its loop waited in "
          "epoll_wait.")
    for r in runs:
        if r.get("slice_figures"):
            rows = [["%.0f-%.0f" % (x["t0"], x["t1"]),
                     fmt(x["check_runs_per_s"], 0),
                     fmt(x.get("requests_per_s"), 0),
                     fmt(x.get("responses_per_s"), 0),
                     "%s / %s" % (fmt(x["pdus_in_per_s"], 0),
                                  fmt(x["pdus_answered_per_s"], 0)),
                     fmt(x["varbinds_per_s"], 0),
                     fmt(x["cores"], 4), fmt(x["cpu_us_per_pdu"], 2),
                     fmt(x["snmpd_cores"], 3)]
                    for x in r["slice_figures"]]
            table("monitord %s by slice of the window (the interfaces "
                  "check walks ifTable/ifXTable every 10th poll)"
                  % r["label"],
                  ["window s", "check runs/s", "requests/s",
                   "PDUs answered/s", "at agent in / out", "varbinds/s",
                   "cores", "CPU us/PDU", "snmpd cores"], rows)
        if r.get("db_by_check"):
            print("  %s: current_state by check: %s" % (
                r["label"], "; ".join(
                    "%s %s" % (k, ", ".join("%s %d" % kv
                                            for kv in v.items()))
                    if isinstance(v, dict) else "%s %s" % (k, v)
                    for k, v in r["db_by_check"].items())))
        if not r.get("is_base") and r.get("planned") and \
                r.get("check_runs_planned") and \
                abs(r["planned"] - r["check_runs_planned"]) > \
                0.05 * r["check_runs_planned"]:
            print("  %s: monitord_probes_planned_per_second says %s/s, but "
                  "%s check runs/s are scheduled (2 per agent per interval)"
                  % (r["label"], fmt(r["planned"], 0),
                     fmt(r["check_runs_planned"], 0)))
        for note in r.get("notes", []):
            print("  %s: %s" % (r["label"], note))


def print_snmp_nagios(runs):
    rows = []
    for r in runs:
        if "error" in r:
            rows.append([fmt(r["hosts"]), "failed: " +
                         r["error"].splitlines()[0][:60]] + [""] * 9)
            continue
        rows.append([
            fmt(r["hosts"]), "%g s" % r["interval_s"],
            fmt(r["planned"], 0), fmt(r["achieved"], 1),
            fmt(r["ratio"], 3), fmt(r.get("pdus_in_per_s"), 1),
            "%s / %s / %s" % (fmt(r["latency_p50_s"], 2),
                              fmt(r["latency_p99_s"], 2),
                              fmt(r["latency_max_s"], 2)),
            fmt(r["non_ok"]),
            fmt(r["host_busy"], 0, 100),
            fmt(r.get("loadavg_1m"), 1),
            fmt(r.get("stats_rate_1m"), 1)])
    win = [r for r in runs if "window_s" in r]
    table("Nagios 4 + check_snmp: 2 services per host (sysUpTime.0; "
          "ifOperStatus of every interface in one GET), no host check, %s"
          % ("warm-up %d s, window %d s" % (win[0]["warmup_s"],
                                            win[0]["window_s"])
             if win else "no run"),
          ["hosts", "interval", "planned/s", "checks/s", "achieved/plan",
           "PDUs/s at agent", "latency p50/p99/max s", "non-OK",
           "machine busy %", "load 1m", "nagios4stats 1m/s"], rows)
    if win:
        print("  check: one check_snmp service run (one exec of check_snmp, "
              "which execs snmpget: one GET PDU)")
        print("  command: %s" % win[0].get("command", ""))


def print_snmp_ratio(res):
    md = [r for r in res.get("monitord", []) if not r.get("is_base")]
    md = md[0] if md else {}
    rows = [["Nagios 4 + check_snmp best executed checks/s (%s hosts)"
             % fmt(res.get("nagios_best_hosts")),
             fmt(res.get("nagios_best"), 1)],
            ["monitord check runs/s, %s agents (steady, follows its "
             "plan: not saturated)" % fmt(md.get("agents")),
             fmt(md.get("check_runs_per_s"), 0)],
            ["ratio monitord/Nagios (a floor: monitord was not pushed to "
             "saturation)", fmt(res.get("ratio"), 1)]]
    if "error" in md:
        rows.insert(1, ["monitord", "failed: %s" % md["error"][:70]])
    table("SNMP checks per second: monitord against Nagios 4 + check_snmp,"
          " same agent, same run", ["figure", "value"], rows)


