using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace OspBridge.Testing.Netns;

/// <summary>
/// A throw-away LAN of Linux network namespaces for multi-host tests (mDNS, QUIC, WebRTC, Chromium...).
/// <para>
/// Layout: one namespace <see cref="BridgeNamespace"/> holds a Linux bridge <c>br0</c> (STP and multicast
/// snooping off, addresses 10.213.0.254/24 and fd00:213::fe/64); every host namespace
/// (<see cref="Hosts"/>) has <c>lo</c> up and <c>eth0</c>, one end of a veth pair whose other end is a port
/// of <c>br0</c>. Hosts get 10.213.0.(i+1)/24 and fd00:213::(i+1)/64, a default route via the bridge's
/// address and a 224.0.0.0/4 route on <c>eth0</c>. Nothing is connected to the test machine's own
/// namespace, so traffic between hosts cannot leak to a real network.
/// </para>
/// <para>
/// Names are <c>ospb-&lt;pid&gt;-&lt;n&gt;-h&lt;i&gt;</c> / <c>-br</c>, unique per process and LAN, so
/// parallel test runs never collide; <see cref="CreateAsync"/> first deletes stale <c>ospb-</c> namespaces
/// whose pid is dead. <see cref="DisposeAsync"/> deletes the namespaces (which destroys the veths and
/// the bridge). Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2; otherwise
/// <see cref="CreateAsync"/> throws <see cref="InvalidOperationException"/> saying what is missing.
/// </para>
/// </summary>
public sealed class NetnsLan : IAsyncDisposable
{
    /// <summary>Prefix of every namespace this harness creates.</summary>
    public const string NamespacePrefix = "ospb-";

    private static int _counter;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(20);
    private readonly List<string> _namespaces = [];
    private bool _disposed;

    private NetnsLan(string bridgeNamespace) => BridgeNamespace = bridgeNamespace;

    /// <summary>The namespace holding the bridge <c>br0</c>.</summary>
    public string BridgeNamespace { get; }

    /// <summary>The hosts, in creation order.</summary>
    public IReadOnlyList<NetnsHost> Hosts { get; private set; } = [];

    /// <summary>Address of the bridge (the hosts' IPv4 default gateway; nothing routes beyond it).</summary>
    public static IPAddress GatewayIPv4 { get; } = IPAddress.Parse("10.213.0.254");

    /// <summary>Address of the bridge (the hosts' IPv6 default gateway).</summary>
    public static IPAddress GatewayIPv6 { get; } = IPAddress.Parse("fd00:213::fe");

    /// <summary>
    /// Null when the harness can run here; otherwise a sentence saying why not (not root, no <c>ip</c>).
    /// </summary>
    public static string? WhyUnsupported()
    {
        if (!OperatingSystem.IsLinux()) return "network-namespace tests need Linux";
        if (LibC.geteuid() != 0) return "network-namespace tests need root (CAP_SYS_ADMIN/CAP_NET_ADMIN); run the tests as root";
        if (FindOnPath("ip") is null) return "network-namespace tests need iproute2's 'ip' on PATH (apt-get install iproute2)";
        return null;
    }

    /// <summary>Creates a LAN of <paramref name="hostCount"/> hosts (1..250), ready to use when the task completes.</summary>
    public static async Task<NetnsLan> CreateAsync(int hostCount, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hostCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(hostCount, 250);
        string? why = WhyUnsupported();
        if (why is not null) throw new InvalidOperationException(why);
        await DeleteStaleNamespacesAsync(ct).ConfigureAwait(false);

        int n = Interlocked.Increment(ref _counter);
        string prefix = $"{NamespacePrefix}{Environment.ProcessId}-{n}";
        var lan = new NetnsLan(prefix + "-br");
        try
        {
            await lan.BuildAsync(prefix, hostCount, ct).ConfigureAwait(false);
            return lan;
        }
        catch
        {
            await lan.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task BuildAsync(string prefix, int hostCount, CancellationToken ct)
    {
        string br = BridgeNamespace;
        await NetnsAddAsync(br, ct).ConfigureAwait(false);
        await Ip(ct, "-n", br, "link", "set", "lo", "up").ConfigureAwait(false);
        await Ip(ct, "-n", br, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0").ConfigureAwait(false);
        await Ip(ct, "-n", br, "addr", "add", "10.213.0.254/24", "dev", "br0").ConfigureAwait(false);
        await Ip(ct, "-n", br, "addr", "add", "fd00:213::fe/64", "dev", "br0", "nodad").ConfigureAwait(false);
        await Ip(ct, "-n", br, "link", "set", "br0", "up").ConfigureAwait(false);

        var hosts = new List<NetnsHost>(hostCount);
        for (int i = 0; i < hostCount; i++)
        {
            string ns = $"{prefix}-h{i}";
            await NetnsAddAsync(ns, ct).ConfigureAwait(false);
            // No duplicate address detection: addresses (incl. the link-local one mDNS uses) are usable at once.
            (await RunCommandAsync("ip", ["netns", "exec", ns, "sysctl", "-q", "-w",
                "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
                "net.ipv6.conf.default.dad_transmits=0"], CommandTimeout, ct).ConfigureAwait(false)).EnsureSuccess("sysctl in " + ns);
            string port = "p" + i.ToString(CultureInfo.InvariantCulture);
            await Ip(ct, "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", br).ConfigureAwait(false);
            await Ip(ct, "-n", br, "link", "set", port, "master", "br0").ConfigureAwait(false);
            await Ip(ct, "-n", br, "link", "set", port, "up").ConfigureAwait(false);
            await Ip(ct, "-n", ns, "link", "set", "lo", "up").ConfigureAwait(false);
            string v4 = "10.213.0." + (i + 1).ToString(CultureInfo.InvariantCulture);
            string v6 = "fd00:213::" + (i + 1).ToString("x", CultureInfo.InvariantCulture);
            await Ip(ct, "-n", ns, "addr", "add", v4 + "/24", "dev", "eth0").ConfigureAwait(false);
            await Ip(ct, "-n", ns, "addr", "add", v6 + "/64", "dev", "eth0", "nodad").ConfigureAwait(false);
            await Ip(ct, "-n", ns, "link", "set", "eth0", "up").ConfigureAwait(false);
            await Ip(ct, "-n", ns, "route", "add", "default", "via", "10.213.0.254", "dev", "eth0").ConfigureAwait(false);
            await Ip(ct, "-n", ns, "-6", "route", "add", "default", "via", "fd00:213::fe", "dev", "eth0").ConfigureAwait(false);
            await Ip(ct, "-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0").ConfigureAwait(false);
            hosts.Add(new NetnsHost(this, i, ns, IPAddress.Parse(v4), IPAddress.Parse(v6)));
        }
        Hosts = hosts;
    }

    /// <summary>
    /// Runs a command in the test's own namespace to completion, with a timeout (the process tree is
    /// killed when it elapses).
    /// </summary>
    public static Task<ProcessResult> RunCommandAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken ct = default)
    {
        var psi = new ProcessStartInfo(fileName);
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        return NetnsProcess.RunToEndAsync(psi, timeout, ct);
    }

    /// <summary>
    /// Deletes namespaces named <c>ospb-&lt;pid&gt;-...</c> whose process no longer exists (left behind by a
    /// crashed or killed test run). Called by <see cref="CreateAsync"/>.
    /// </summary>
    public static async Task DeleteStaleNamespacesAsync(CancellationToken ct = default)
    {
        if (!Directory.Exists("/run/netns")) return;
        foreach (string path in Directory.GetFiles("/run/netns", NamespacePrefix + "*"))
        {
            string name = Path.GetFileName(path);
            string rest = name[NamespacePrefix.Length..];
            int dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out int pid)) continue;
            if (pid == Environment.ProcessId || Directory.Exists("/proc/" + pid.ToString(CultureInfo.InvariantCulture))) continue;
            await RunCommandAsync("ip", ["netns", "del", name], CommandTimeout, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Deletes every namespace of this LAN (hosts first, then the bridge). Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        for (int i = _namespaces.Count - 1; i >= 0; i--)
            await RunCommandAsync("ip", ["netns", "del", _namespaces[i]], CommandTimeout).ConfigureAwait(false);
    }

    private async Task NetnsAddAsync(string name, CancellationToken ct)
    {
        await Ip(ct, "netns", "add", name).ConfigureAwait(false);
        _namespaces.Add(name);
    }

    private static async Task Ip(CancellationToken ct, params string[] args)
        => (await RunCommandAsync("ip", args, CommandTimeout, ct).ConfigureAwait(false)).EnsureSuccess("ip " + string.Join(' ', args));

    private static string? FindOnPath(string file)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':').Append("/usr/sbin").Append("/sbin"))
        {
            string p = Path.Combine(dir, file);
            if (File.Exists(p)) return p;
        }
        return null;
    }
}
