using System.Collections.Concurrent;
using OspBridge.Net.Mdns;
using OspBridge.Osp.Discovery;

namespace OspBridge.Interop.Tests.Mdns;

/// <summary>Runs the real <c>ospbridge</c> (built next to the tests) inside namespaces.</summary>
internal static class OspBridgeCli
{
    public static string Dll
    {
        get
        {
            string p = Path.Combine(AppContext.BaseDirectory, "ospbridge.dll");
            if (!File.Exists(p)) throw new InvalidOperationException($"ospbridge.dll not found next to the tests ({p})");
            return p;
        }
    }

    public static string DotnetHost => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";

    public static NetnsProcess Start(NetnsHost host, params string[] args)
        => host.Start(DotnetHost, [Dll, .. args], new Dictionary<string, string?> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1" });

    public static Task<ProcessResult> RunAsync(NetnsHost host, TimeSpan timeout, params string[] args)
        => host.RunAsync(DotnetHost, [Dll, .. args], timeout);

    /// <summary>Starts <c>advertise</c> with a fresh state directory and waits for its "advertising" line.</summary>
    public static async Task<(NetnsProcess Process, string Line)> AdvertiseAsync(NetnsHost host, string stateRoot, string name, params string[] extra)
    {
        string state = Path.Combine(stateRoot, host.Namespace + "-" + Guid.NewGuid().ToString("N")[..6]);
        var p = Start(host, ["advertise", "--name", name, "--interface", "eth0", "--state-dir", state, .. extra]);
        try
        {
            string line = await p.WaitForLineAsync(l => l.StartsWith("advertising ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
            return (p, line);
        }
        catch
        {
            await p.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs <c>discover --json</c> and parses its lines.</summary>
    public static async Task<List<JsonElement>> DiscoverAsync(NetnsHost host, double seconds)
    {
        var r = await RunAsync(host, TimeSpan.FromSeconds(seconds + 30), "discover", "--json", "--interface", "eth0", "--timeout",
            seconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        r.EnsureSuccess("ospbridge discover");
        return r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }
}

/// <summary>An in-process OSP listener inside a namespace, recording agent events with timestamps.</summary>
internal sealed class AgentObserver : IAsyncDisposable
{
    private readonly MdnsService _mdns;
    private readonly OspAgentBrowser _browser;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private AgentObserver(MdnsService mdns)
    {
        _mdns = mdns;
        _browser = new OspAgentBrowser(mdns);
        _browser.AgentAdded += a => Events.Enqueue((_clock.Elapsed, "added", a));
        _browser.AgentUpdated += a => Events.Enqueue((_clock.Elapsed, "updated", a));
        _browser.AgentRemoved += a => Events.Enqueue((_clock.Elapsed, "removed", a));
    }

    public ConcurrentQueue<(TimeSpan At, string Kind, OspAgentInfo Agent)> Events { get; } = new();

    public TimeSpan Now => _clock.Elapsed;

    public IReadOnlyList<OspAgentInfo> Agents => _browser.Agents;

    public static async Task<AgentObserver> StartAsync(NetnsHost host)
    {
        var mdns = await host.RunInNamespaceAsync(() => MdnsService.Start(new MdnsServiceOptions { Interfaces = ["eth0"] }));
        var o = new AgentObserver(mdns);
        await o._browser.StartAsync();
        return o;
    }

    public async Task<TimeSpan> WaitForAsync(Func<AgentObserver, bool> condition, TimeSpan timeout)
    {
        var start = _clock.Elapsed;
        while (!condition(this))
        {
            if (_clock.Elapsed - start > timeout)
                throw new TimeoutException($"condition not met within {timeout}; agents: {string.Join(", ", Agents.Select(a => a.InstanceName))}");
            await Task.Delay(10);
        }
        return _clock.Elapsed - start;
    }

    public async ValueTask DisposeAsync()
    {
        _browser.Dispose();
        await _mdns.DisposeAsync();
    }
}
