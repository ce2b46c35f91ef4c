using System.CommandLine;
using System.Text;
using Microsoft.Extensions.Logging;
using OspBridge.Net;
using OspBridge.Net.Channels;
using OspBridge.Net.Mdns;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Ice;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge webrtc echo|offer</c>: a data-channel echo peer for interop scripts. Signalling is stdin/stdout:
/// JSON <c>{"type":"offer"|"answer","sdp":...}</c> (raw SDP is accepted on input), one line each, written once ICE
/// gathering is complete. Every message is echoed on the channel it came from, text as text, binary as binary.
/// Exits 0 when the peer closes the connection (or every channel it opened), 1 on failure.
/// </summary>
internal sealed class WebRtcCommand : ICliCommand
{
    public Command Build(CliContext context)
    {
        var cmd = new Command("webrtc", "WebRTC data-channel peer (echo) for interop tests");
        cmd.Subcommands.Add(Sub(context, "echo", "Read a remote offer on stdin, print the answer, echo every message", offerer: false));
        cmd.Subcommands.Add(Sub(context, "offer", "Print an offer (with channel 'echo'), read the answer on stdin, echo every message", offerer: true));
        return cmd;
    }

    private static Command Sub(CliContext context, string name, string description, bool offerer)
    {
        var iface = new Option<string[]>("--interface") { Description = "Interface(s) to gather host candidates on (default: all up, non-loopback)", AllowMultipleArgumentsPerToken = true };
        var lite = new Option<bool>("--ice-lite") { Description = "Act as an ICE-lite agent" };
        var timeout = new Option<int>("--timeout") { Description = "Give up after this many seconds without the peer closing (0 = never)", DefaultValueFactory = _ => 0 };
        var c = new Command(name, description) { iface, lite, timeout };
        c.SetAction(async (parseResult, ct) =>
        {
            var names = parseResult.GetValue(iface);
            using var loggerFactory = context.CreateLoggerFactory(parseResult);
            var logger = loggerFactory.CreateLogger("webrtc");
            // mDNS on the same interfaces ICE gathers on, so a browser's <uuid>.local host candidates get resolved
            // (without it they are only reachable as peer-reflexive). Our own candidates stay plain IPs.
            MdnsService? mdns = null;
            try { mdns = MdnsService.Start(new MdnsServiceOptions { Interfaces = names is { Length: > 0 } ? names : null, Logger = logger }); }
            catch (NetException ex) { Console.Error.WriteLine($"webrtc: no mDNS ({ex.Message}); remote .local candidates will not be resolved"); }
            await using var mdnsOwner = mdns;
            var config = new RTCConfiguration
            {
                Interfaces = names is { Length: > 0 } ? names : null,
                IceLite = parseResult.GetValue(lite),
                MdnsHostNames = mdns is null ? null : new MdnsServiceHostNames(mdns, logger),
                ObfuscateHostCandidates = false,
            };
            int seconds = parseResult.GetValue(timeout);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            if (seconds > 0) cts.CancelAfter(TimeSpan.FromSeconds(seconds));
            return await RunAsync(config, new RTCPeerConnectionOptions { Logger = logger }, offerer, cts.Token).ConfigureAwait(false);
        });
        return c;
    }

    private static async Task<int> RunAsync(RTCConfiguration config, RTCPeerConnectionOptions options, bool offerer, CancellationToken ct)
    {
        await using var pc = new RTCPeerConnection(config, options);
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int open = 0, everOpened = 0;
        void Attach(RTCDataChannel ch)
        {
            ch.OnOpen += () => { Interlocked.Increment(ref open); Interlocked.Increment(ref everOpened); Console.Error.WriteLine($"webrtc: channel '{ch.Label}' open (id {ch.Id})"); };
            ch.OnMessage += m =>
            {
                try { ch.Send(m.Data, m.IsText); }
                catch (WebRtcException ex) { Console.Error.WriteLine($"webrtc: echo on '{ch.Label}' failed: {ex.Message}"); }
            };
            ch.OnClose += () =>
            {
                Console.Error.WriteLine($"webrtc: channel '{ch.Label}' closed");
                if (Interlocked.Decrement(ref open) == 0 && Volatile.Read(ref everOpened) > 0) done.TrySetResult(0);
            };
        }
        pc.OnDataChannel += ch =>
        {
            Attach(ch);
            Interlocked.Increment(ref open);
            Interlocked.Increment(ref everOpened);
            Console.Error.WriteLine($"webrtc: channel '{ch.Label}' open (id {ch.Id})");
        };
        pc.OnConnectionStateChange += s =>
        {
            Console.Error.WriteLine($"webrtc: connection {s}");
            if (s == RTCPeerConnectionState.Closed) done.TrySetResult(0);
            if (s == RTCPeerConnectionState.Failed) done.TrySetResult(1);
        };

        if (offerer)
        {
            Attach(pc.CreateDataChannel("echo"));
            var offer = await pc.CreateOfferAsync(ct).ConfigureAwait(false);
            await pc.SetLocalDescriptionAsync(offer, ct).ConfigureAwait(false);
            await pc.WaitForGatheringCompleteAsync(ct).ConfigureAwait(false);
            await WriteLineAsync(pc.LocalDescription!.ToJson()).ConfigureAwait(false);
            var answer = RTCSessionDescription.Parse(await ReadDescriptionAsync(ct).ConfigureAwait(false), RTCSdpType.Answer);
            if (answer.Type != RTCSdpType.Answer) throw new CliException("expected an answer on stdin");
            await pc.SetRemoteDescriptionAsync(answer, ct).ConfigureAwait(false);
        }
        else
        {
            var offer = RTCSessionDescription.Parse(await ReadDescriptionAsync(ct).ConfigureAwait(false), RTCSdpType.Offer);
            if (offer.Type != RTCSdpType.Offer) throw new CliException("expected an offer on stdin");
            await pc.SetRemoteDescriptionAsync(offer, ct).ConfigureAwait(false);
            var answer = await pc.CreateAnswerAsync(ct).ConfigureAwait(false);
            await pc.SetLocalDescriptionAsync(answer, ct).ConfigureAwait(false);
            await pc.WaitForGatheringCompleteAsync(ct).ConfigureAwait(false);
            await WriteLineAsync(pc.LocalDescription!.ToJson()).ConfigureAwait(false);
        }
        try
        {
            return await done.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("webrtc: timed out");
            return 1;
        }
    }

    private static async Task WriteLineAsync(string line)
    {
        await Console.Out.WriteLineAsync(line).ConfigureAwait(false);
        await Console.Out.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Reads one description: a JSON object (possibly over several lines), or raw SDP up to EOF or a blank line.</summary>
    private static async Task<string> ReadDescriptionAsync(CancellationToken ct)
    {
        var sb = new StringBuilder();
        int depth = 0;
        bool json = false;
        while (true)
        {
            string? line = await Console.In.ReadLineAsync(ct).ConfigureAwait(false);
            if (line is null) break;
            if (sb.Length == 0 && line.Trim().Length == 0) continue;
            if (sb.Length == 0) json = line.TrimStart().StartsWith('{');
            if (!json && line.Trim().Length == 0) break;
            sb.Append(line).Append(json ? "\n" : "\r\n");
            if (json)
            {
                foreach (char ch in line) { if (ch == '{') depth++; else if (ch == '}') depth--; }
                if (depth <= 0) break;
            }
            if (sb.Length > 256 * 1024) throw new CliException("description on stdin is too long");
        }
        if (sb.Length == 0) throw new CliException("no session description on stdin");
        return sb.ToString();
    }
}
