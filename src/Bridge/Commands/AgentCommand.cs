using System.Collections.Concurrent;
using System.CommandLine;
using System.Net;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using OspBridge.Bridge.Device;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Net.Channels;
using OspBridge.Net.Mdns;
using OspBridge.Osp;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Discovery;
using OspBridge.Osp.Lp2p;
using OspBridge.Osp.Trust;
using OspBridge.PeerFetch;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge agent --name &lt;n&gt; [--accept-all] [--receive-dir &lt;dir&gt;] [--port &lt;p&gt;] [--interface &lt;if&gt;]...
/// [--http-origin &lt;url&gt; [--http-allow &lt;path-prefix&gt;]...]</c>:
/// a screenless OSP agent. Listens (QUIC, ALPN <c>osp</c>), advertises with mDNS, authenticates every peer
/// (a trusted one without a PIN; a new one after consent with a PIN it presents as <c>PIN: &lt;digits&gt;</c>),
/// echoes LP2P <c>chat</c> channels, stores <c>file</c> channels in the receive directory and, with
/// <c>--http-origin</c>, serves PeerFetch v1/v2 on <c>http-proxy</c> channels and v2 on LP2P QUIC transports (ALPN
/// <c>q2q</c>, one request per stream) — a reverse proxy to that origin — until SIGTERM.
/// stdout lines (docs/cli.md): <c>agent ...</c> once advertising, <c>PIN: ...</c>, <c>paired ...</c>,
/// <c>received ...</c>, <c>stopped</c>.
/// </summary>
internal sealed class AgentCommand : ICliCommand
{
    public Command Build(CliContext context)
    {
        var name = new Option<string>("--name") { Description = "Display name (the mDNS instance name)", Required = true };
        var acceptAll = new Option<bool>("--accept-all") { Description = "Let any new peer start pairing without a consent prompt (the PIN is still required)" };
        var receiveDir = new Option<DirectoryInfo?>("--receive-dir") { Description = "Where files sent to this agent are stored (default: <state-dir>/received)" };
        var port = new Option<int>("--port") { Description = "UDP port of the QUIC listener (0: any free port)", DefaultValueFactory = _ => 0 };
        var iface = new Option<string[]>("--interface") { Description = "Interface to advertise on (repeatable; default: all multicast-capable)", Arity = ArgumentArity.ZeroOrMore };
        var httpOrigin = new Option<string?>("--http-origin") { Description = "Serve PeerFetch (data channels labelled http-proxy) to trusted peers, proxying to this local origin, e.g. http://127.0.0.1:8080" };
        var httpAllow = new Option<string[]>("--http-allow") { Description = "Path prefix peers may reach on --http-origin (repeatable; default: everything)", Arity = ArgumentArity.ZeroOrMore };
        var camera = new Option<string?>("--camera") { Description = "Serve this camera to trusted peers over WebRTC (LAN signaling): test, exec:<command>, rtsp://[user:pass@]host[:port]/path" };
        var talkSink = new Option<string?>("--talk-sink") { Description = "With --camera: where peers' talk-back audio goes: an Ogg Opus file (rewritten per session) or exec:<command> (Ogg Opus on its stdin); default: counted and logged only" };
        var maxViewers = new Option<int>("--max-viewers") { Description = "With --camera: most viewers (WebRTC sessions) at once", DefaultValueFactory = _ => OspBridge.Bridge.Camera.CameraService.DefaultMaxViewers };
        var privateName = new Option<bool>("--private") { Description = "Keep the name off the LAN: advertise a random instance name (new at every start) and tell the real name only to authenticated peers (docs/trust.md)" };
        var noWebRtc = new Option<bool>("--no-webrtc") { Description = "Do not answer WebRTC offers over LAN signaling (by default trusted peers, e.g. a bridge for a browser, may open WebRTC data channels: PeerFetch on http-proxy)" };
        var command = new Command("agent", "Run a screenless agent: advertise, pair with a PIN it presents, echo chat, receive files, serve PeerFetch; until SIGTERM")
        {
            name, acceptAll, receiveDir, port, iface, httpOrigin, httpAllow, camera, talkSink, maxViewers, noWebRtc, privateName,
        };
        command.SetAction((parseResult, ct) => CliGuard.RunAsync(async () =>
        {
            context.InterruptGrace = CliContext.ServerInterruptGrace; // an orderly shutdown after SIGINT/SIGTERM

            string display = parseResult.GetValue(name)!;
            if (string.IsNullOrWhiteSpace(display)) throw new CliException("--name must not be empty");
            int p = parseResult.GetValue(port);
            if (p is < 0 or > 65535) throw new CliException("--port must be 0..65535");
            var interfaces = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface));
            if (parseResult.GetValue(camera) is not null && parseResult.GetValue(noWebRtc))
                throw new CliException("--camera needs WebRTC answering: drop --no-webrtc");
            string stateDir = context.GetStateDirectory(parseResult);
            string receive = parseResult.GetValue(receiveDir)?.FullName ?? Path.Combine(stateDir, "received");
            var log = context.Logger(parseResult, "agent");
            var oslog = context.Logger(parseResult, "osp");
            using var http = CreateHttpDevice(parseResult.GetValue(httpOrigin), parseResult.GetValue(httpAllow) ?? [], context.Logger(parseResult, "peerfetch"));
            await using var cameraService = OspBridge.Bridge.Camera.CameraCli.Create(parseResult.GetValue(camera), interfaces, context.Logger(parseResult, "camera"),
                parseResult.GetValue(maxViewers), parseResult.GetValue(talkSink));

            bool isPrivate = parseResult.GetValue(privateName);
            // Private: a random instance name per start (the certificate is reissued for its hostname; same key and fingerprint).
            using var identity = AgentIdentity.LoadOrCreate(stateDir, isPrivate ? OspInstanceName.CreatePrivate() : OspInstanceName.FromDisplayName(display));
            var trust = PeerTrust.Open(stateDir);
            using var prompts = ConsolePrompts.ForConsole();
            ulong mv = OspMetadataVersion.LoadOrBump(stateDir, display, identity.ModelName);
            var consent = new ConsoleConsentHost(prompts, parseResult.GetValue(acceptAll), commandLineNamesPeer: false, Console.Error);
            var agent = new AgentHost(identity, trust, consent, receive, http, log, oslog);
            await using var receiver = new LP2PReceiver(new LP2PReceiverOptions
            {
                Agent = OspPairing.AgentOptions(identity, display, oslog, isPrivate ? identity.InstanceName : null),
                Nickname = PeerTrust.App,
                Grants = new OspTrustGrantPolicy(trust, consent, PeerTrust.App), // per-app grants: listed and revoked with `peers`
                ListenEndPoint = new IPEndPoint(IPAddress.Any, p),
                Authenticate = agent.AuthenticateAsync,
                AcceptQuicTransports = http is not null, // PeerFetch over LP2P QUIC (q2q), docs/peerfetch.md §2.6
            });
            await receiver.StartAsync(ct);
            int boundPort = receiver.LocalEndPoint.Port;
            await using var mdns = MdnsService.Start(new MdnsServiceOptions
            {
                Interfaces = interfaces,
                UseIPv6 = false, // the listener is IPv4 (0.0.0.0): advertise what answers
                Logger = context.Logger(parseResult, "mdns"),
            });
            var advertiser = await OspAgentAdvertiser.StartAsync(mdns, identity, (ushort)boundPort, mv, oslog, ct);
            if (!parseResult.GetValue(noWebRtc))
            {
                var webrtcOptions = DeviceWebRtc.AgentOptions(interfaces, mdns, http, context.Logger(parseResult, "webrtc"));
                agent.WebRtc = cameraService is null ? webrtcOptions : webrtcOptions.WithMedia(cameraService, cameraService.MaxViewers);
            }
            using var rotation = advertiser.RotateAuthTokenOnSuspicion(agent.Limiter); // a new TXT at after repeated failures
            try
            {
                try { await advertiser.WaitEstablishedAsync(ct).WaitAsync(TimeSpan.FromSeconds(5), ct); }
                catch (TimeoutException) { log.LogWarning("mDNS probing not finished after 5 s; serving anyway"); }
                string shown = isPrivate ? $"agent '{display}' instance={advertiser.InstanceName}" : $"agent '{OspInstanceName.WithoutMarker(advertiser.InstanceName)}'";
                AgentHost.WriteLine($"{shown} id={PeerTrust.IdOf(identity.Fingerprint)} fp={identity.Fingerprint} port={boundPort} interfaces={string.Join(',', mdns.Interfaces.Select(i => i.Name))}");
                var quicLoop = http is null ? Task.CompletedTask : agent.AcceptQuicLoopAsync(receiver, ct);
                await agent.AcceptLoopAsync(receiver, ct);
                await quicLoop;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
            await advertiser.DisposeAsync(); // goodbyes (TTL 0)
            await agent.StopAsync();
            AgentHost.WriteLine("stopped");
            return 0;
        }));
        return command;
    }

    /// <summary>The PeerFetch device for <c>--http-origin</c> (null without it), after validating the origin and the allow-list.</summary>
    private static PeerFetchDevice? CreateHttpDevice(string? origin, string[] allow, ILogger logger)
    {
        if (origin is null)
        {
            if (allow.Length > 0) throw new CliException("--http-allow needs --http-origin");
            return null;
        }
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.UserInfo.Length > 0)
            throw new CliException($"--http-origin '{CliErrors.OneLine(origin)}' must be an absolute http:// or https:// URL");
        foreach (string prefix in allow)
        {
            if (!prefix.StartsWith('/') || prefix.Any(c => char.IsControl(c) || c is ' ' or '?' or '#' or '\\'))
                throw new CliException($"--http-allow '{CliErrors.OneLine(prefix)}' must be a path starting with '/'");
        }
        var entry = new PeerFetchOrigin(new Uri(uri.GetLeftPart(UriPartial.Authority))) { AllowedPathPrefixes = allow.Length > 0 ? allow : ["/"] };
        return PeerFetchDevice.CreateProxy([entry], new PeerFetchDeviceOptions { Logger = logger });
    }

    /// <summary>The running agent: the LP2P authentication hook and one task per authenticated connection.</summary>
    private sealed class AgentHost(AgentIdentity identity, OspTrustStore trust, ConsoleConsentHost consent, string receiveDir, PeerFetchDevice? http, ILogger log, ILogger osplog)
    {
        private readonly ConcurrentDictionary<OspConnection, PairingResult> _results = new();
        private readonly ConcurrentDictionary<IAsyncDisposable, Task> _connections = new();
        private readonly AuthAttemptLimiter _limiter = new();

        public AuthAttemptLimiter Limiter => _limiter;
        private readonly ConsolePairingHost _host = new(Console.Out, !Console.IsOutputRedirected, prompts: null, pinOption: null, osplog);

        /// <summary>Device-side WebRTC answering on every authenticated session (null: off); <c>--camera</c> is its media provider.</summary>
        public DeviceWebRtcOptions? WebRtc { get; set; }

        public static void WriteLine(string line)
        {
            lock (Console.Out)
            {
                Console.Out.WriteLine(line);
                Console.Out.Flush();
            }
        }

        /// <summary>The LP2P receiver's authentication hook: trusted peers without a PIN, new ones after consent with the PIN we present.</summary>
        public async Task AuthenticateAsync(OspConnection connection, CancellationToken ct)
        {
            var result = await OspPairing.AuthenticateIncomingAsync(connection, identity, trust, _host, consent, _limiter, osplog, ct, repairEnded: OnRepaired);
            if (result.Outcome == PairingOutcome.Authenticated)
            {
                _results[connection] = result;
            }
            else if (log.IsEnabled(LogLevel.Warning))
            {
                log.LogWarning("peer {Fp} at {Remote}: {Outcome} {Message}", connection.RemoteFingerprint, connection.RemoteEndPoint, result.Outcome, result.Message);
            }
        }

        /// <summary>A trusted peer that revoked us paired again on its connection: the same <c>paired</c> line as a first pairing.</summary>
        private void OnRepaired(OspConnection connection, OspAuthenticationResult result)
        {
            if (result.IsAuthenticated && trust.FindTrusted(connection.RemoteFingerprint) is { } peer) WriteLine($"paired {peer.Name} {peer.Id} {peer.Fingerprint}");
        }

        public async Task AcceptLoopAsync(LP2PReceiver receiver, CancellationToken ct)
        {
            await foreach (var connection in receiver.AcceptConnectionsAsync(ct))
            {
                _connections[connection] = Task.Run(() => ServeAsync(connection, ct), CancellationToken.None);
            }
        }

        /// <summary>PeerFetch over LP2P QUIC transports (ALPN q2q): only from peers with an authenticated, granted LP2P connection.</summary>
        public Task AcceptQuicLoopAsync(LP2PReceiver receiver, CancellationToken ct) =>
            AgentQuicPeerFetch.AcceptLoopAsync(receiver, trust, http!, _connections, log, ct);

        public async Task StopAsync()
        {
            // CONNECTION_CLOSE to every peer at once: the LP2P sessions and the PeerFetch QUIC transports (left open,
            // those ended only when the 5 s wait below ran out and the process exited).
            await AgentQuicPeerFetch.CloseAllAsync(_connections.Keys.OfType<LP2PConnection>(), _connections.Keys);
            try { await Task.WhenAll(_connections.Values).WaitAsync(TimeSpan.FromSeconds(5)); }
            catch (TimeoutException) { log.LogWarning("some connections did not finish within 5 s of stopping"); }
        }

        private async Task ServeAsync(LP2PConnection connection, CancellationToken ct)
        {
            await using var _ = connection;
            var remote = connection.Connection.RemoteEndPoint;
            try
            {
                if (!_results.TryRemove(connection.Connection, out var result) || result.Peer is not { } peer)
                    return; // cannot happen: the receiver hands out authenticated connections only
                if (log.IsEnabled(LogLevel.Information)) log.LogInformation("peer '{Name}' ({Id}) authenticated from {Remote}", peer.Name, peer.Id, remote);
                // After the LP2P set-up (the app grant is recorded by now), which completes also when `pair` has already
                // closed the connection after its own `paired` line (LP2PConnection.EstablishAsync; the session-5 flake).
                if (result.NewlyPaired) WriteLine($"paired {peer.Name} {peer.Id} {peer.Fingerprint}");
                await using var webrtc = WebRtc is { } w ? DeviceWebRtc.Start(connection.Connection, peer.Id, w, log) : null;
                var channels = new List<Task>();
                await foreach (var channel in connection.AcceptDataChannelsAsync(ct))
                {
                    channels.RemoveAll(t => t.IsCompleted);
                    channels.Add(Task.Run(() => OnChannelAsync(peer, channel, ct), CancellationToken.None));
                }
                await Task.WhenAll(channels);
            }
            catch (Exception ex) when (ex is OspException or OperationCanceledException or IOException or CliException)
            {
                if (log.IsEnabled(LogLevel.Debug)) log.LogDebug("connection from {Remote} ended: {Error}", remote, ex.Message);
            }
            finally
            {
                _connections.TryRemove(connection, out Task? _);
            }
        }

        private async Task OnChannelAsync(TrustedPeerView peer, LP2PDataChannel channel, CancellationToken ct)
        {
            await using var _ = channel;
            string label = channel.Label;
            try
            {
                switch (label)
                {
                    case "chat":
                        // Echo every message as it came (text stays text).
                        while (await channel.ReceiveAsync(ct) is { } m)
                            await channel.SendAsync(m.Data, m.IsText, ct);
                        break;
                    case FileTransfer.Label:
                        var r = await FileTransfer.ReceiveAsync(channel, receiveDir, FileTransfer.DefaultMaxFileBytes, ct);
                        if (r.Ok) WriteLine($"received {r.Path} {r.Bytes} {r.Sha256Hex} from {peer.Id}");
                        else log.LogWarning("file '{Name}' from {Peer}: {Error}", r.Name, peer.Id, r.Error);
                        break;
                    case FetchCommand.Label when http is not null:
                        await http.ServeAsync(channel, peer.Id, ct); // v1 or v2, chosen from the first message
                        break;
                    default:
                        if (log.IsEnabled(LogLevel.Information)) log.LogInformation("closing data channel '{Label}' from {Peer}: no such service", label, peer.Id);
                        await channel.CloseAsync(ct);
                        break;
                }
            }
            catch (Exception ex) when (ex is OspException or OperationCanceledException or IOException or InvalidOperationException)
            {
                if (log.IsEnabled(LogLevel.Debug)) log.LogDebug("data channel '{Label}' from {Peer} ended: {Error}", label, peer.Id, ex.Message);
            }
        }
    }
}
