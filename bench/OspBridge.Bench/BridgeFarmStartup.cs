using System.Diagnostics;
using System.Net.Http.Headers;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Discovery;
using OspBridge.Testing.Processes;

namespace OspBridge.Bench;

/// <summary>
/// The start-up the bridge benches with a device farm share (<see cref="BridgeLoadBench"/>, <see cref="BridgeIdleBench"/>):
/// the bridge's identity and a trust store listing every device, written before <c>ospbridge serve</c> starts (so no
/// PIN is typed), then <c>serve</c> itself and an API client holding the admin token.
/// </summary>
internal static class BridgeFarmStartup
{
    /// <summary>
    /// Creates the bridge's identity in <paramref name="bridgeState"/> and <paramref name="devices"/> ephemeral device
    /// identities named "<paramref name="namePrefix"/> 0000"…, all recorded (and flushed) as trusted in the bridge's
    /// trust store; prints how long that took. Returns the bridge's fingerprint and the devices' identities.
    /// </summary>
    public static (string BridgeFingerprint, List<AgentIdentity> Devices) WriteIdentitiesAndTrust(string bridgeState, int devices, string namePrefix)
    {
        string bridgeFp;
        using (var bridgeIdentity = AgentIdentity.LoadOrCreate(bridgeState, OspInstanceName.FromDisplayName("OspBridge")))
            bridgeFp = bridgeIdentity.Fingerprint;
        var clock = Stopwatch.StartNew();
        var identities = Enumerable.Range(0, devices).Select(i => AgentIdentity.CreateEphemeral($"{namePrefix} {i:D4}")).ToList();
        var trust = PeerTrust.Open(bridgeState);
        for (int i = 0; i < devices; i++) trust.RecordAuthenticated(identities[i].Fingerprint, $"{namePrefix} {i:D4}");
        trust.Flush();
        Console.WriteLine($"# {devices} identities and the bridge's trust store written in {clock.Elapsed.TotalSeconds:F1} s");
        return (bridgeFp, identities);
    }

    /// <summary>
    /// Starts <c>ospbridge serve</c> on <paramref name="bridgeState"/> with <c>--token</c> <see cref="BridgeLoadBench.Token"/>
    /// and <paramref name="extra"/>, and an HTTP client to it that sends the token (no cookies, up to
    /// <paramref name="maxConnections"/> pooled connections, 120 s per request); then lets it settle for a second.
    /// Returns the child, its URL and the client; the caller disposes both.
    /// </summary>
    public static async Task<(CliChild Serve, Uri Url, HttpClient Api)> StartServeAsync(string bridgeState, TimeSpan step, int maxConnections, params string[] extra)
    {
        var (serve, url) = await CliChild.StartServeAsync(bridgeState, step, ["--token", BridgeLoadBench.Token, .. extra]);
        var api = new HttpClient(new SocketsHttpHandler { UseCookies = false, MaxConnectionsPerServer = maxConnections, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            BaseAddress = url,
            Timeout = TimeSpan.FromSeconds(120),
        };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", BridgeLoadBench.Token);
        await Task.Delay(1000);
        return (serve, url, api);
    }
}
