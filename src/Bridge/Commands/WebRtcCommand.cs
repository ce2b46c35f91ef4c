using System.CommandLine;
using System.Text;
using System.Text.Json;
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
internal sealed partial class WebRtcCommand : ICliCommand
{
    public Command Build(CliContext context)
    {
        var cmd = new Command("webrtc", "WebRTC data-channel peer (echo) for interop tests");
        cmd.Subcommands.Add(Sub(context, "echo", "Read a remote offer on stdin, print the answer, echo every message", offerer: false));
        cmd.Subcommands.Add(Sub(context, "offer", "Print an offer (with channel 'echo'), read the answer on stdin, echo every message", offerer: true));
        cmd.Subcommands.Add(CameraSub(context));
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
            var names = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface));
            int seconds = (int)CliErrors.RequireSeconds("--timeout", parseResult.GetValue(timeout), 0, 86400);
            // The answerer validates the offer before it starts anything (no sockets, no log lines for bad input).
            RTCSessionDescription? offer = offerer ? null : ParseDescription(await ReadDescriptionAsync("offer", ct).ConfigureAwait(false), RTCSdpType.Offer);
            var logger = context.Logger(parseResult, "webrtc");
            await using var mdns = StartMdns(names, logger);
            var config = Configuration(names, mdns, logger) with { IceLite = parseResult.GetValue(lite) };
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            if (seconds > 0) cts.CancelAfter(TimeSpan.FromSeconds(seconds));
            return await RunAsync(config, new RTCPeerConnectionOptions { Logger = logger }, offer, cts.Token).ConfigureAwait(false);
        });
        return c;
    }

    /// <summary>
    /// mDNS on the same interfaces ICE gathers on, so a browser's <c>&lt;uuid&gt;.local</c> host candidates get resolved
    /// (without it they are only reachable as peer-reflexive); null, with a line on stderr, when it cannot start.
    /// </summary>
    private static MdnsService? StartMdns(string[]? names, ILogger logger)
    {
        try { return MdnsService.Start(new MdnsServiceOptions { Interfaces = names is { Length: > 0 } ? names : null, Logger = logger }); }
        catch (NetException ex)
        {
            Console.Error.WriteLine($"webrtc: no mDNS ({TerminalText.Sanitize(ex.Message)}); remote .local candidates will not be resolved");
            return null;
        }
    }

    /// <summary>The CLI's peer connections: ICE on <paramref name="names"/>, remote <c>.local</c> names through <paramref name="mdns"/>, our own candidates plain IPs.</summary>
    private static RTCConfiguration Configuration(string[]? names, MdnsService? mdns, ILogger logger) => new()
    {
        Interfaces = names is { Length: > 0 } ? names : null,
        MdnsHostNames = mdns is null ? null : new MdnsServiceHostNames(mdns, logger),
        ObfuscateHostCandidates = false,
    };

    private static async Task<int> RunAsync(RTCConfiguration config, RTCPeerConnectionOptions options, RTCSessionDescription? remoteOffer, CancellationToken ct)
    {
        await using var pc = new RTCPeerConnection(config, options);
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        int open = 0, everOpened = 0;
        bool quiet = false; // after a failure only the error line is printed
        void Say(string line)
        {
            if (!Volatile.Read(ref quiet)) Console.Error.WriteLine(line);
        }
        void Attach(RTCDataChannel ch)
        {
            // the label comes from the peer: sanitised before it reaches the terminal
            string label = TerminalText.Sanitize(ch.Label);
            ch.OnOpen += () => { Interlocked.Increment(ref open); Interlocked.Increment(ref everOpened); Say($"webrtc: channel '{label}' open (id {ch.Id})"); };
            ch.OnMessage += m =>
            {
                try { ch.Send(m.Data, m.IsText); }
                catch (WebRtcException ex) { Say($"webrtc: echo on '{label}' failed: {TerminalText.Sanitize(ex.Message)}"); }
            };
            ch.OnClose += () =>
            {
                Say($"webrtc: channel '{label}' closed");
                if (Interlocked.Decrement(ref open) == 0 && Volatile.Read(ref everOpened) > 0) done.TrySetResult(0);
            };
        }
        pc.OnDataChannel += ch =>
        {
            Attach(ch);
            Interlocked.Increment(ref open);
            Interlocked.Increment(ref everOpened);
            Say($"webrtc: channel '{TerminalText.Sanitize(ch.Label)}' open (id {ch.Id})");
        };
        pc.OnConnectionStateChange += s =>
        {
            Say($"webrtc: connection {s}");
            if (s == RTCPeerConnectionState.Closed) done.TrySetResult(0);
            if (s == RTCPeerConnectionState.Failed) done.TrySetResult(1);
        };

        try
        {
            if (remoteOffer is null)
            {
                Attach(pc.CreateDataChannel("echo"));
                var offer = await pc.CreateOfferAsync(ct).ConfigureAwait(false);
                await pc.SetLocalDescriptionAsync(offer, ct).ConfigureAwait(false);
                await pc.WaitForGatheringCompleteAsync(ct).ConfigureAwait(false);
                await WriteLineAsync(pc.LocalDescription!.ToJson()).ConfigureAwait(false);
                var answer = ParseDescription(await ReadDescriptionAsync("answer", ct).ConfigureAwait(false), RTCSdpType.Answer);
                await Remote("answer", () => pc.SetRemoteDescriptionAsync(answer, ct)).ConfigureAwait(false);
            }
            else
            {
                await Remote("offer", () => pc.SetRemoteDescriptionAsync(remoteOffer, ct)).ConfigureAwait(false);
                var answer = await pc.CreateAnswerAsync(ct).ConfigureAwait(false);
                await pc.SetLocalDescriptionAsync(answer, ct).ConfigureAwait(false);
                await pc.WaitForGatheringCompleteAsync(ct).ConfigureAwait(false);
                await WriteLineAsync(pc.LocalDescription!.ToJson()).ConfigureAwait(false);
            }
        }
        catch
        {
            Volatile.Write(ref quiet, true);
            throw;
        }
        try
        {
            return await done.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Volatile.Write(ref quiet, true);
            throw new CliException("webrtc: timed out (--timeout)");
        }
    }

    private static async Task Remote(string what, Func<Task> apply)
    {
        try { await apply().ConfigureAwait(false); }
        catch (WebRtcException ex) { throw new CliException($"{what} on stdin: {ex.Message}"); }
    }

    /// <summary>Largest session description accepted on stdin.</summary>
    internal const int MaxDescriptionLength = 256 * 1024;

    /// <summary>
    /// Validates a description read from stdin: JSON <c>{"type":"offer"|"answer","sdp":"..."}</c> (an object, string
    /// members, the expected type) or raw SDP, and the SDP itself; every failure names what is wrong.
    /// </summary>
    internal static RTCSessionDescription ParseDescription(string text, RTCSdpType expected)
    {
        string what = expected == RTCSdpType.Offer ? "offer" : "answer";
        string t = text.Trim();
        string sdp;
        if (t.StartsWith('{') || t.StartsWith('['))
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(t, new JsonDocumentOptions { MaxDepth = 8 }); }
            catch (JsonException ex) { throw new CliException($"{what} on stdin: not valid JSON ({FirstSentence(ex.Message)})"); }
            using (doc)
            {
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new CliException($"{what} on stdin: JSON must be an object {{\"type\":\"{what}\",\"sdp\":\"...\"}}, not {Kind(root.ValueKind)}");
                if (!root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                    throw new CliException($"{what} on stdin: \"type\" must be the string \"{what}\"{(type.ValueKind == JsonValueKind.Undefined ? " (missing)" : ", not " + Kind(type.ValueKind))}");
                if (type.GetString() != what) throw new CliException($"{what} on stdin: \"type\" is \"{type.GetString()}\", expected \"{what}\"");
                if (!root.TryGetProperty("sdp", out var sdpElement) || sdpElement.ValueKind != JsonValueKind.String)
                    throw new CliException($"{what} on stdin: \"sdp\" must be a string{(sdpElement.ValueKind == JsonValueKind.Undefined ? " (missing)" : ", not " + Kind(sdpElement.ValueKind))}");
                sdp = sdpElement.GetString()!;
            }
        }
        else
        {
            sdp = t.EndsWith('\n') ? t : t + "\r\n";
        }
        if (sdp.Length > MaxDescriptionLength) throw new CliException($"{what} on stdin: SDP longer than {MaxDescriptionLength / 1024} KiB");
        try { OspBridge.WebRtc.Sdp.SessionDescription.Parse(sdp); }
        catch (WebRtcException ex) { throw new CliException($"{what} on stdin: {ex.Message}"); }
        return new RTCSessionDescription(expected, sdp);
    }

    private static string Kind(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.Number => "a number",
        JsonValueKind.Null => "null",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.String => "a string",
        JsonValueKind.Object => "an object",
        _ => "nothing",
    };

    private static string FirstSentence(string message)
    {
        int i = message.IndexOf(". ", StringComparison.Ordinal);
        return i > 0 ? message[..i] : message.TrimEnd('.');
    }

    private static async Task WriteLineAsync(string line)
    {
        await Console.Out.WriteLineAsync(line).ConfigureAwait(false);
        await Console.Out.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Reads one description: a JSON object (possibly over several lines), or raw SDP up to EOF or a blank line. At
    /// most <see cref="MaxDescriptionLength"/> characters are buffered.
    /// </summary>
    private static async Task<string> ReadDescriptionAsync(string what, CancellationToken ct)
    {
        var sb = new StringBuilder();
        int depth = 0;
        bool json = false;
        var buffer = new char[4096];
        var line = new StringBuilder();
        while (true)
        {
            // line by line with a bound: ReadLineAsync would buffer an endless line whole
            string? l = await ReadBoundedLineAsync(line, buffer, ct).ConfigureAwait(false);
            if (l is null) break;
            if (sb.Length == 0 && l.Trim().Length == 0) continue;
            if (sb.Length == 0) json = l.TrimStart().StartsWith('{') || l.TrimStart().StartsWith('[');
            if (!json && l.Trim().Length == 0) break;
            sb.Append(l).Append(json ? "\n" : "\r\n");
            if (sb.Length > MaxDescriptionLength) throw new CliException($"{what} on stdin: longer than {MaxDescriptionLength / 1024} KiB");
            if (json)
            {
                foreach (char ch in l) { if (ch is '{' or '[') depth++; else if (ch is '}' or ']') depth--; }
                if (depth <= 0) break;
            }
        }
        if (sb.Length == 0) throw new CliException($"no {what} on stdin");
        return sb.ToString();
    }

    private static int _pending = -1;

    private static async Task<string?> ReadBoundedLineAsync(StringBuilder line, char[] one, CancellationToken ct)
    {
        line.Clear();
        while (true)
        {
            int c;
            if (_pending >= 0) { c = _pending; _pending = -1; }
            else
            {
                int n = await Console.In.ReadAsync(one.AsMemory(0, 1), ct).ConfigureAwait(false);
                c = n == 0 ? -1 : one[0];
            }
            if (c < 0) return line.Length > 0 ? line.ToString() : null;
            if (c == '\n') return line.ToString();
            if (c == '\r')
            {
                int n = await Console.In.ReadAsync(one.AsMemory(0, 1), ct).ConfigureAwait(false);
                if (n > 0 && one[0] != '\n') _pending = one[0];
                return line.ToString();
            }
            line.Append((char)c);
            if (line.Length > MaxDescriptionLength) return line.ToString(); // the caller reports the length
        }
    }
}
