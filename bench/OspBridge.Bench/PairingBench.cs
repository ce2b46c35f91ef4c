using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Mdns;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Lp2p;

namespace OspBridge.Bench;

/// <summary>
/// Issue 10 "must show" 1, the timing half: on loopback in one warm process, the CLI's own pairing code paths
/// (src/Bridge/Pairing: PeerFinder, PeerClient, OspPairing over OspAuthentication, OspTrustStore and LP2P):
/// <list type="bullet">
/// <item><b>discovery → authenticated</b>: a new client (fresh identity, fresh trust store, fresh mDNS querier on
/// <c>lo</c>) browses, finds the agent, connects (QUIC + TLS 1.3), pairs with SPAKE2 — the PIN taken from the
/// agent's presentation programmatically instead of a human — and has an LP2P connection (agent-info + grant).
/// Split into discovery (browse → found) and connect+pair (found → LP2P connection).</item>
/// <item><b>reconnect</b>: a paired client connects again to the known agent: QUIC + TLS, trusted admission (no
/// PIN), LP2P set-up — then one <c>chat</c> echo round trip is timed separately.</item>
/// </list>
/// <c>dotnet run -c Release --project bench/OspBridge.Bench -- pairing [iterations]</c>
/// </summary>
public static class PairingBench
{
    public static int Run(string[] args)
    {
        int iterations = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 30;
        return RunAsync(iterations).GetAwaiter().GetResult();
    }

    private sealed class HandOffHost : IOspPairingHost
    {
        private TaskCompletionSource<string> _pin = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Reset() => _pin = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ValueTask ShowPinAsync(OspPsk pin, OspPairingPeer peer, CancellationToken cancellationToken)
        {
            _pin.TrySetResult(pin.ToDisplayString());
            return ValueTask.CompletedTask;
        }

        public async ValueTask<string?> RequestPinAsync(OspPairingPeer peer, CancellationToken cancellationToken) =>
            await _pin.Task.WaitAsync(cancellationToken).ConfigureAwait(false);

        public ValueTask PairingEndedAsync(OspPairingPeer peer, OspAuthenticationResult result, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }

    private static async Task<int> RunAsync(int iterations)
    {
        string root = Directory.CreateTempSubdirectory("ospb-pairing-bench-").FullName;
        try
        {
            var log = NullLogger.Instance;
            using var agentIdentity = AgentIdentity.LoadOrCreate(Path.Combine(root, "agent"), "Bench Agent");
            var agentTrust = PeerTrust.Open(Path.Combine(root, "agent"));
            var consent = new ConsoleConsentHost(null, acceptAll: true, commandLineNamesPeer: false, TextWriter.Null);
            var host = new HandOffHost();
            var limiter = new AuthAttemptLimiter();
            await using var receiver = new LP2PReceiver(new LP2PReceiverOptions
            {
                Agent = OspPairing.AgentOptions(agentIdentity, "Bench Agent", log),
                ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
                AcceptQuicTransports = false,
                Authenticate = async (c, ct) =>
                {
                    await OspPairing.AuthenticateIncomingAsync(c, agentIdentity, agentTrust, host, consent, limiter, log, ct).ConfigureAwait(false);
                },
            });
            await receiver.StartAsync().ConfigureAwait(false);
            _ = EchoAsync(receiver);
            await using var agentMdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = ["lo"], UseIPv6 = false });
            await using var advertiser = await OspAgentAdvertiser.StartAsync(agentMdns, agentIdentity, (ushort)receiver.LocalEndPoint.Port, 1, log).ConfigureAwait(false);
            await advertiser.WaitEstablishedAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            Console.WriteLine($"pairing bench: loopback, {iterations} iterations per case (+3 warm-up), {Environment.ProcessorCount} CPUs");

            var discovery = new List<double>();
            var pairing = new List<double>();
            var total = new List<double>();
            string fp = agentIdentity.Fingerprint;
            OspAgentInfo? known = null;
            for (int i = 0; i < iterations + 3; i++)
            {
                string dir = Path.Combine(root, "client" + i.ToString(CultureInfo.InvariantCulture));
                using var identity = AgentIdentity.LoadOrCreate(dir, "Bench Client " + i.ToString(CultureInfo.InvariantCulture));
                var trust = PeerTrust.Open(dir);
                host.Reset();
                // RFC 6762 §6: a responder multicasts a record at most once per second per link, so back-to-back
                // fresh queriers would measure that rate limit; leave > 1 s between discoveries.
                await Task.Delay(1100).ConfigureAwait(false);
                var sw = Stopwatch.StartNew();
                await using var mdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = ["lo"], UseIPv6 = false });
                // As `ospbridge pair "Bench Agent"` does: browse, and ask for the typed name's instance directly.
                var (agent, _) = await PeerFinder.FindWithOthersAsync(mdns, a => a.Txt.Fingerprint == fp, TimeSpan.FromSeconds(10), log, CancellationToken.None,
                    PeerFinder.HintFor("Bench Agent")).ConfigureAwait(false);
                double d = sw.Elapsed.TotalMilliseconds;
                var (connection, result) = await PeerClient.ConnectAsync(agent, identity, trust, host, TimeSpan.FromSeconds(10), log, CancellationToken.None).ConfigureAwait(false);
                double t = sw.Elapsed.TotalMilliseconds;
                if (connection is null || result.Outcome != PairingOutcome.Authenticated || !result.NewlyPaired)
                    throw new InvalidOperationException($"pairing failed: {result.Outcome} {result.Message}");
                await connection.DisposeAsync().ConfigureAwait(false);
                known = agent;
                if (i < 3) continue;
                discovery.Add(d);
                pairing.Add(t - d);
                total.Add(t);
            }

            // For comparison: discovery by browsing only (no name known: PTR answer, shared record, 20–120 ms responder delay).
            var browseOnly = new List<double>();
            for (int i = 0; i < iterations; i++)
            {
                await Task.Delay(1100).ConfigureAwait(false);
                var sw = Stopwatch.StartNew();
                await using var mdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = ["lo"], UseIPv6 = false });
                _ = await PeerFinder.FindAsync(mdns, a => a.Txt.Fingerprint == fp, TimeSpan.FromSeconds(10), log, CancellationToken.None).ConfigureAwait(false);
                browseOnly.Add(sw.Elapsed.TotalMilliseconds);
            }

            // Reconnect: the last paired client, again and again (its trust store knows the agent).
            string lastDir = Path.Combine(root, "client" + (iterations + 2).ToString(CultureInfo.InvariantCulture));
            using var lastIdentity = AgentIdentity.LoadOrCreate(lastDir);
            var lastTrust = PeerTrust.Open(lastDir);
            var reconnect = new List<double>();
            var echo = new List<double>();
            var payload = "ping"u8.ToArray();
            for (int i = 0; i < iterations + 3; i++)
            {
                var sw = Stopwatch.StartNew();
                var (connection, result) = await PeerClient.ConnectAsync(known!, lastIdentity, lastTrust, null, TimeSpan.FromSeconds(10), log, CancellationToken.None).ConfigureAwait(false);
                double r = sw.Elapsed.TotalMilliseconds;
                if (connection is null || result.Outcome != PairingOutcome.Authenticated || result.NewlyPaired)
                    throw new InvalidOperationException($"reconnect failed: {result.Outcome} {result.Message}");
                await using (var channel = await connection.CreateDataChannelAsync("chat").ConfigureAwait(false))
                {
                    await channel.SendAsync(payload, isText: true).ConfigureAwait(false);
                    _ = await channel.ReceiveAsync().ConfigureAwait(false) ?? throw new InvalidOperationException("no echo");
                }
                double e = sw.Elapsed.TotalMilliseconds - r;
                await connection.DisposeAsync().ConfigureAwait(false);
                if (i < 3) continue;
                reconnect.Add(r);
                echo.Add(e);
            }

            Console.WriteLine($"{"case",-44} {"p50 ms",8} {"p99 ms",8} {"max ms",8}");
            Print("discovery, browse only (no name known)", browseOnly);
            Print("discovery (fresh querier → agent found)", discovery);
            Print("connect + SPAKE2 pairing + LP2P set-up", pairing);
            Print("discovery → authenticated (total)", total);
            Print("reconnect, trusted (connect → LP2P ready)", reconnect);
            Print("  + chat channel open + echo round trip", echo);
            return 0;
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static async Task EchoAsync(LP2PReceiver receiver)
    {
        await foreach (var connection in receiver.AcceptConnectionsAsync())
        {
            _ = Task.Run(async () =>
            {
                try
                {
                    await foreach (var channel in connection.AcceptDataChannelsAsync())
                    {
                        while (await channel.ReceiveAsync() is { } m) await channel.SendAsync(m.Data, m.IsText);
                    }
                }
                catch (Exception ex) when (ex is OspBridge.Osp.OspException or OperationCanceledException or InvalidOperationException)
                {
                }
            });
        }
    }

    private static void Print(string name, List<double> samples)
    {
        samples.Sort();
        double P(double q) => samples[Math.Min(samples.Count - 1, (int)Math.Ceiling(q * samples.Count) - 1)];
        Console.WriteLine($"{name,-44} {P(0.5),8:0.0} {P(0.99),8:0.0} {samples[^1],8:0.0}");
    }
}
