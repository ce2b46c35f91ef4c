using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using OspBridge.Bridge.Signaling;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Mdns;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Signaling;
using OspBridge.WebRtc;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge demo</c>: by default the doorbell story (<see cref="Demo.DoorbellDemo"/>: a doorbell agent with the test
/// camera and a REST API, the bridge, PIN pairing, camera/REST/talk-back in a browser; <c>--headless</c> drives
/// Chromium through it). <c>demo --transport</c> (or giving <c>--messages</c>/<c>--megabytes</c>) is the transport
/// path on loopback — two agents find each other with mDNS/DNS-SD, connect over our QUIC + TLS 1.3 with pinned agent
/// certificates, exchange agent-info as CBOR, carry a WebRTC offer/answer over that OSP session (LAN signaling), and
/// talk over the resulting WebRTC data channel (ICE, DTLS 1.2, SCTP).
/// </summary>
internal sealed class DemoCommand : ICliCommand
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(20);

    public Command Build(CliContext context)
    {
        var iface = new Option<string>("--interface") { Description = "Interface for mDNS (default: lo, so nothing leaves the machine)", DefaultValueFactory = _ => "lo" };
        var transport = new Option<bool>("--transport") { Description = "The transport demo instead: two agents, mDNS → QUIC/TLS (pinned) → agent-info → WebRTC data channel echo + bulk" };
        var messages = new Option<int>("--messages") { Description = "(--transport) Echo round trips over the data channel", DefaultValueFactory = _ => 100 };
        var megabytes = new Option<int>("--megabytes") { Description = "(--transport) Bulk transfer size over the data channel, in MiB", DefaultValueFactory = _ => 8 };
        var headless = new Option<bool>("--headless") { Description = "Run the doorbell story in headless Chromium (fake camera and microphone), print what it saw, exit 0 only if all of it worked" };
        var port = new Option<int>("--port") { Description = "The bridge's port on 127.0.0.1 (0: any free port; a taken port falls back to a free one)", DefaultValueFactory = _ => 8080 };
        var browser = new Option<string?>("--browser") { Description = "(--headless) Chromium's path (default: /usr/bin/chromium and the usual places)" };
        var timeout = new Option<int>("--timeout") { Description = "(--headless) Seconds the story may take", DefaultValueFactory = _ => 180 };
        var command = new Command("demo", "The doorbell story: a device with a test camera and a REST API, a bridge, PIN pairing, camera + REST + talk-back in a browser (--transport: the transport path between two agents)")
        {
            iface, transport, messages, megabytes, headless, port, browser, timeout,
        };
        command.SetAction(async (parseResult, ct) =>
        {
            context.InterruptGrace = CliContext.ServerInterruptGrace; // an orderly shutdown after SIGINT/SIGTERM
            string ifaceName = CliErrors.RequireInterfaces("--interface", [parseResult.GetValue(iface)!])![0];
            bool transportDemo = parseResult.GetValue(transport)
                || parseResult.GetResult(messages) is { Implicit: false } || parseResult.GetResult(megabytes) is { Implicit: false };
            if (transportDemo)
            {
                if (parseResult.GetValue(headless)) throw new CliException("--headless is for the doorbell demo, not --transport");
                int n = parseResult.GetValue(messages), mib = parseResult.GetValue(megabytes);
                if (n is < 1 or > 100_000) throw new CliException("--messages must be between 1 and 100000");
                if (mib is < 0 or > 1024) throw new CliException("--megabytes must be between 0 and 1024");
                return await RunAsync(ifaceName, n, mib, context.Logger(parseResult, "demo"), context.Logger(parseResult, "osp"), ct).ConfigureAwait(false);
            }
            int p = parseResult.GetValue(port);
            if (p is < 0 or > 65535) throw new CliException("--port must be 0..65535");
            int seconds = parseResult.GetValue(timeout);
            if (seconds is < 10 or > 3600) throw new CliException("--timeout must be between 10 and 3600 seconds");
            using var loggers = context.CreateLoggerFactory(parseResult);
            return await Demo.DoorbellDemo.RunAsync(new Demo.DoorbellDemoOptions
            {
                Interface = ifaceName,
                Port = p,
                Headless = parseResult.GetValue(headless),
                Browser = parseResult.GetValue(browser),
                Timeout = TimeSpan.FromSeconds(seconds),
            }, loggers, ct).ConfigureAwait(false);
        });
        return command;
    }

    private static void Step(string text) => Console.Out.WriteLine($"\n== {text}");

    private static void Info(string text) => Console.Out.WriteLine("   " + text);

    private static async Task<int> RunAsync(string iface, int messageCount, int mib, Microsoft.Extensions.Logging.ILogger log, Microsoft.Extensions.Logging.ILogger logger, CancellationToken ct)
    {
        var total = Stopwatch.StartNew();

        Step("1. identities (self-signed P-256 agent certificates, no CA)");
        using var deviceId = AgentIdentity.CreateEphemeral("Front Door");
        using var controllerId = AgentIdentity.CreateEphemeral("Living Room");
        // The demo's two agents live in this process and know each other's keys: no PIN pairing between them.
        var device = new OspAgentOptions { Identity = deviceId, DisplayName = "Front Door camera", ModelName = "OspBridge demo device", RequireAuthentication = false };
        var controller = new OspAgentOptions { Identity = controllerId, DisplayName = "Living Room controller", RequireAuthentication = false };
        Info($"device     {deviceId.Hostname}  fp {deviceId.Fingerprint}");
        Info($"controller {controllerId.Hostname}  fp {controllerId.Fingerprint}");

        Step($"2. device listens (QUIC, ALPN osp) and advertises _openscreen._udp on {iface}");
        await using var listener = await OspAgentListener.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), device, ct).ConfigureAwait(false);
        await using var deviceMdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = [iface], UseIPv6 = false, Logger = log });
        await using var advertiser = await OspAgentAdvertiser.StartAsync(deviceMdns, deviceId, (ushort)listener.LocalEndPoint.Port, 1, logger, ct).ConfigureAwait(false);
        Info($"QUIC on {listener.LocalEndPoint}, advertised as \"{advertiser.InstanceName}\"");
        var deviceSide = RunDeviceAsync(listener, logger, ct);

        Step("3. controller browses and finds the device");
        var sw = Stopwatch.StartNew();
        await using var controllerMdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = [iface], UseIPv6 = false, Logger = log });
        using var browser = new OspAgentBrowser(controllerMdns, logger);
        var found = new TaskCompletionSource<OspAgentInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnAgent(OspAgentInfo a)
        {
            if (a.Txt.Fingerprint == deviceId.Fingerprint && a.Addresses.Count > 0) found.TrySetResult(a);
        }
        browser.AgentAdded += OnAgent;
        browser.AgentUpdated += OnAgent;
        await browser.StartAsync(ct).ConfigureAwait(false);
        var agent = await found.Task.WaitAsync(StepTimeout, ct).ConfigureAwait(false);
        Info($"found \"{TerminalText.Sanitize(agent.DisplayName)}\" at {TerminalText.Sanitize(agent.HostName)}:{agent.Port} [{string.Join(", ", agent.Addresses)}] in {sw.ElapsedMilliseconds} ms");
        Info(TerminalText.Sanitize($"TXT fp={agent.Txt.Fingerprint} mv={agent.Txt.MetadataVersion} at={agent.Txt.AuthToken} sn={agent.Txt.SerialNumber}"));

        Step("4. controller connects: QUIC + TLS 1.3, mutual agent certificates, SNI = SRV target, server fingerprint pinned to TXT fp");
        sw.Restart();
        await using var connection = await OspConnection.ConnectAsync(agent, controller, ct).ConfigureAwait(false);
        Info($"connected {connection.LocalEndPoint} -> {connection.RemoteEndPoint} in {sw.ElapsedMilliseconds} ms; peer fp {connection.RemoteFingerprint}");
        var info = await connection.RequestAgentInfoAsync(StepTimeout, ct).ConfigureAwait(false);
        Info($"agent-info (CBOR): display-name \"{TerminalText.Sanitize(info.DisplayName)}\", model \"{TerminalText.Sanitize(info.ModelName)}\", capabilities [{TerminalText.Sanitize(string.Join(", ", info.Capabilities))}]");

        Step("5. WebRTC offer/answer over the OSP session (lan-signaling 8193/8194), then ICE → DTLS 1.2 → SCTP");
        sw.Restart();
        await using var pc = new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] }, new RTCPeerConnectionOptions { Logger = log });
        var channel = pc.CreateDataChannel("demo");
        using var signaling = new LanSignalingSession(connection, new LanSignalingOptions { AnswerTimeout = StepTimeout }, logger);
        await LanSignaling.OfferAsync(signaling, pc, "demo", StepTimeout, ct).ConfigureAwait(false);
        await channel.WaitOpenAsync(ct).WaitAsync(StepTimeout, ct).ConfigureAwait(false);
        Info($"data channel \"{TerminalText.Sanitize(channel.Label)}\" open in {sw.ElapsedMilliseconds} ms over {pc.SelectedCandidatePair}");

        Step($"6. {messageCount} echo round trips, then {mib} MiB bulk transfer echoed back");
        var rtts = new List<double>(messageCount);
        for (int i = 0; i < messageCount; i++)
        {
            var t = Stopwatch.GetTimestamp();
            string text = "hello " + i.ToString(CultureInfo.InvariantCulture);
            await channel.SendAsync(System.Text.Encoding.UTF8.GetBytes(text), isText: true, ct).ConfigureAwait(false);
            var reply = await channel.ReceiveAsync(ct).AsTask().WaitAsync(StepTimeout, ct).ConfigureAwait(false)
                ?? throw new CliException("data channel closed during the echo test");
            if (!reply.IsText || System.Text.Encoding.UTF8.GetString(reply.Data.Span) != "echo: " + text)
                throw new CliException($"unexpected echo reply for message {i}");
            rtts.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        rtts.Sort();
        Info($"echo RTT median {rtts[rtts.Count / 2]:0.00} ms, p99 {rtts[Math.Min(rtts.Count - 1, rtts.Count * 99 / 100)]:0.00} ms");
        if (mib > 0)
        {
            var payload = new byte[64 * 1024];
            RandomNumberGenerator.Fill(payload);
            int chunks = mib * 16;
            var expected = SHA256.HashData(Enumerable.Repeat(payload, chunks).SelectMany(b => b).ToArray());
            sw.Restart();
            var receiver = Task.Run(async () =>
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                long got = 0;
                while (got < (long)chunks * payload.Length)
                {
                    var m = await channel.ReceiveAsync(ct).ConfigureAwait(false) ?? throw new CliException("channel closed during bulk transfer");
                    hash.AppendData(m.Data.Span);
                    got += m.Data.Length;
                }
                return hash.GetHashAndReset();
            }, ct);
            for (int i = 0; i < chunks; i++) await channel.SendAsync(payload, isText: false, ct).ConfigureAwait(false);
            var digest = await receiver.WaitAsync(TimeSpan.FromSeconds(120), ct).ConfigureAwait(false);
            double secs = sw.Elapsed.TotalSeconds;
            if (!digest.AsSpan().SequenceEqual(expected)) throw new CliException("bulk transfer echoed back different bytes");
            Info($"{mib} MiB out and back byte-exact (SHA-256 match) in {secs:0.00} s = {mib * 2 * 8 * 1.048576 / secs:0.0} Mbit/s through both stacks");
        }

        Step("7. close");
        await channel.CloseAsync(ct).ConfigureAwait(false);
        await pc.CloseAsync(CancellationToken.None).ConfigureAwait(false);
        await connection.CloseAsync(OspConnection.NoErrorCode, ct).ConfigureAwait(false);
        await deviceSide.WaitAsync(StepTimeout, ct).ConfigureAwait(false);
        Info($"done in {total.Elapsed.TotalSeconds:0.0} s — no cloud, no signaling server, no CA");
        return 0;
    }

    /// <summary>
    /// Most WebRTC peer connections the demo device keeps at once (issue 9 item 4): each costs sockets, an ICE
    /// agent, DTLS and SCTP state, so a controller's further offers are refused with <c>permanent-error</c> until one
    /// of them closes or fails.
    /// </summary>
    internal const int MaxDevicePeers = 4;

    /// <summary>The device: accepts one OSP connection, answers WebRTC offers (LAN signaling), echoes every data-channel message.</summary>
    private static async Task RunDeviceAsync(OspAgentListener listener, Microsoft.Extensions.Logging.ILogger logger, CancellationToken ct)
    {
        await using var connection = await listener.AcceptAsync(ct).ConfigureAwait(false);
        await ServeDeviceAsync(connection, logger, ct).ConfigureAwait(false);
    }

    /// <summary>Serves one controller's offers until it closes the OSP connection, with at most <see cref="MaxDevicePeers"/> peers.</summary>
    internal static async Task ServeDeviceAsync(OspConnection connection, Microsoft.Extensions.Logging.ILogger logger, CancellationToken ct)
    {
        using var signaling = new LanSignalingSession(connection, logger: logger);
        var peers = new List<RTCPeerConnection>();
        int slots = 0; // live peers + answers in progress
        var answerer = LanSignaling.Answerer(
            () => new RTCPeerConnection(new RTCConfiguration { LocalAddresses = [IPAddress.Loopback] }),
            pc =>
            {
                lock (peers) peers.Add(pc);
                pc.OnDataChannel += channel => _ = EchoAsync(channel, ct);
                pc.OnConnectionStateChange += state =>
                {
                    if (state is not (RTCPeerConnectionState.Closed or RTCPeerConnectionState.Failed)) return;
                    bool removed;
                    lock (peers) removed = peers.Remove(pc);
                    if (removed)
                    {
                        Interlocked.Decrement(ref slots);
                        _ = pc.DisposeAsync().AsTask();
                    }
                };
            },
            StepTimeout);
        try
        {
            // Until the controller closes the OSP connection.
            await signaling.ServeAsync(async (offer, token) =>
            {
                if (Interlocked.Increment(ref slots) > MaxDevicePeers)
                {
                    Interlocked.Decrement(ref slots);
                    throw new CliException($"the demo device accepts at most {MaxDevicePeers} peer connections at once");
                }
                try
                {
                    return await answerer(offer, token).ConfigureAwait(false);
                }
                catch
                {
                    Interlocked.Decrement(ref slots);
                    throw;
                }
            }, ct).ConfigureAwait(false);
        }
        finally
        {
            RTCPeerConnection[] left;
            lock (peers) { left = [.. peers]; peers.Clear(); }
            foreach (var pc in left) await pc.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task EchoAsync(RTCDataChannel channel, CancellationToken ct)
    {
        try
        {
            while (await channel.ReceiveAsync(ct).ConfigureAwait(false) is { } m)
            {
                if (m.IsText)
                {
                    var reply = System.Text.Encoding.UTF8.GetBytes("echo: " + System.Text.Encoding.UTF8.GetString(m.Data.Span));
                    await channel.SendAsync(reply, isText: true, ct).ConfigureAwait(false);
                }
                else
                {
                    await channel.SendAsync(m.Data, isText: false, ct).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or OspBridge.WebRtc.WebRtcException)
        {
        }
    }
}
