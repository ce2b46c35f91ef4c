using System.CommandLine;
using System.Net.Http.Headers;
using OspBridge.Bridge.Pairing;
using OspBridge.Crypto.Identity;
using OspBridge.Osp;
using OspBridge.Osp.Agent;
using OspBridge.Osp.Lp2p;
using OspBridge.Osp.Signaling;
using OspBridge.PeerFetch;
using OspBridge.WebRtc;

namespace OspBridge.Bridge.Commands;

/// <summary>
/// <c>ospbridge fetch &lt;peer&gt; &lt;path&gt; [-X &lt;method&gt;] [-H 'K: V']... [-d &lt;data&gt;|-d @&lt;file&gt;] [-o &lt;file&gt;] [-i]
/// [--transport datachannel|quic|webrtc] [--parallel &lt;n&gt;]</c>: a curl-like HTTP request to a paired agent's <c>--http-origin</c> over PeerFetch
/// (an LP2P data channel labelled <c>http-proxy</c>; v2, falling back to v1). The body goes to stdout or <c>-o</c>;
/// <c>-i</c> prints the status line and headers first. Exit 0 when a response arrived (any status); otherwise one
/// <c>ospbridge: ...</c> line and exit 1. <c>--transport quic</c> sends the request over an LP2P QUIC transport
/// (ALPN <c>q2q</c>, same certificates) on a stream of its own instead (docs/peerfetch.md §2.6); <c>--transport webrtc</c>
/// over a WebRTC data channel labelled <c>http-proxy</c> of a peer connection signaled over the LP2P session (LAN
/// signaling; the path a browser behind the bridge takes). <c>--parallel n</c> sends the same request n times at once
/// on the one connection (bodies written one after another in request order; exit 0 only when all n responses arrived).
/// </summary>
internal sealed class FetchCommand : ICliCommand
{
    /// <summary>The data channel label the agent serves PeerFetch on (as the original peerfetch).</summary>
    internal const string Label = "http-proxy";

    /// <summary>Largest <c>-d</c> body read into memory.</summary>
    private const long MaxDataBytes = 64L << 20;

    public Command Build(CliContext context)
    {
        var peer = new Argument<string>("peer") { Description = "A paired agent: name, id or fingerprint prefix" };
        var path = new Argument<string>("path") { Description = "The request path (and query) on the agent's origin, e.g. /api/status" };
        var method = new Option<string?>("-X", "--request") { Description = "Request method (default GET, or POST with -d)" };
        var headers = new Option<string[]>("-H", "--header") { Description = "Request header 'Name: value' (repeatable)", Arity = ArgumentArity.ZeroOrMore };
        var data = new Option<string?>("-d", "--data-raw") { Description = "Request body: the text itself, or @file for a file's bytes" };
        var output = new Option<FileInfo?>("-o", "--output-file") { Description = "Write the body to this file instead of stdout" };
        var include = new Option<bool>("-i", "--include") { Description = "Print the status line and response headers before the body" };
        var transport = new Option<string>("--transport") { Description = "datachannel (default: an LP2P data channel), quic (an LP2P QUIC transport, one stream per request) or webrtc (a WebRTC data channel signaled over the LP2P session)", DefaultValueFactory = _ => "datachannel" };
        transport.AcceptOnlyFromAmong("datachannel", "quic", "webrtc");
        var parallel = new Option<int>("--parallel") { Description = "Send the request this many times at once on the one connection (1-256); bodies in request order", DefaultValueFactory = _ => 1 };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to find and connect to the agent and get the response head", DefaultValueFactory = _ => 30 };
        var iface = new Option<string[]>("--interface") { Description = "Interface to browse on (repeatable; default: all multicast-capable)", Arity = ArgumentArity.ZeroOrMore };
        var command = new Command("fetch", "HTTP request to a paired agent's --http-origin over PeerFetch; body to stdout or -o")
        {
            peer, path, method, headers, data, output, include, transport, parallel, timeout, iface,
        };
        command.SetAction((parseResult, ct) => CliGuard.RunAsync(async () =>
        {
            string which = parseResult.GetValue(peer)!;
            string target = parseResult.GetValue(path)!;
            if (!target.StartsWith('/') || target.StartsWith("//", StringComparison.Ordinal) || target.Any(char.IsControl) || target.Contains(' ', StringComparison.Ordinal))
                throw new CliException($"path '{target}' must start with a single '/' and contain no spaces or control characters");
            double secs = parseResult.GetValue(timeout);
            TimeSpan limit = TrustedPeerSession.RequireTimeout(secs);
            byte[]? body = ReadData(parseResult.GetValue(data));
            string verb = parseResult.GetValue(method) ?? (body is null ? "GET" : "POST");
            if (verb.Length == 0 || !verb.All(c => c is > ' ' and < (char)127 && !"()<>@,;:\\\"/[]?={}".Contains(c, StringComparison.Ordinal)))
                throw new CliException($"-X '{verb}' is not a valid HTTP method");
            var fields = ParseHeaders(parseResult.GetValue(headers) ?? []);
            var outFile = parseResult.GetValue(output);
            if (outFile is not null && outFile.Directory is { Exists: false } missing)
                throw new CliException($"-o: directory {missing.FullName} does not exist");
            var interfaces = CliErrors.RequireInterfaces("--interface", parseResult.GetValue(iface));
            string via = parseResult.GetValue(transport)!;
            int copies = parseResult.GetValue(parallel);
            if (copies is < 1 or > MaxParallel) throw new CliException($"--parallel must be between 1 and {MaxParallel}");

            var request = new HttpRequestMessage(new HttpMethod(verb), new Uri("http://localhost" + target, UriKind.Absolute));
            if (body is not null) request.Content = new ByteArrayContent(body);
            foreach (var (k, v) in fields)
            {
                if (!request.Headers.TryAddWithoutValidation(k, v))
                {
                    request.Content ??= new ByteArrayContent([]);
                    if (!request.Content.Headers.TryAddWithoutValidation(k, v)) throw new CliException($"-H '{k}' cannot be sent");
                }
            }

            await using var session = await TrustedPeerSession.ConnectAsync(context, parseResult, which, interfaces, limit, ct);
            if (session is null) return 1;
            var options = new PeerFetchClientOptions { Logger = context.Logger(parseResult, "peerfetch") };
            await using var webRtc = via == "webrtc"
                ? await FetchWebRtc.OpenAsync(session.Connection, interfaces, limit, context.Logger(parseResult, "webrtc"), ct)
                : null;
            PeerFetchHandler handler = via switch
            {
                "quic" => new PeerFetchHandler(await ConnectQuicAsync(session.Connection, which, limit, ct), options),
                "webrtc" => new PeerFetchHandler(webRtc!.Channel, options),
                _ => new PeerFetchHandler(await PeerClient.OpenChannelAsync(session.Connection, Label, "", which, ct), options),
            };
            using var client = new HttpClient(handler)
            {
                Timeout = Timeout.InfiniteTimeSpan,
            };
            if (copies > 1) return await FetchParallelAsync(client, request, body, copies, outFile, which, limit, ct);
            HttpResponseMessage response;
            using (var headTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                headTimeout.CancelAfter(limit);
                try
                {
                    response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headTimeout.Token);
                }
                catch (Exception ex) when (ex is HttpRequestException or PeerFetchException or IOException || ex is OperationCanceledException && !ct.IsCancellationRequested)
                {
                    string why = ex is OperationCanceledException ? $"no response head within {secs} s" : CliErrors.OneLine((ex.InnerException ?? ex).Message);
                    throw new CliException($"no response from {which}: {why}");
                }
            }
            using (response)
            {
                var stdout = Console.OpenStandardOutput();
                if (parseResult.GetValue(include))
                {
                    var head = new System.Text.StringBuilder();
                    head.Append("HTTP/").Append(response.Version.ToString(2)).Append(' ').Append((int)response.StatusCode);
                    if (!string.IsNullOrEmpty(response.ReasonPhrase)) head.Append(' ').Append(response.ReasonPhrase);
                    head.Append("\r\n");
                    // The header lines as received (the validated view splits e.g. "Server: A/1 B/2" into two lines).
                    foreach (var h in response.Headers.NonValidated.Concat(response.Content.Headers.NonValidated))
                        foreach (string v in h.Value) head.Append(h.Key).Append(": ").Append(v).Append("\r\n");
                    head.Append("\r\n");
                    byte[] bytes = System.Text.Encoding.UTF8.GetBytes(head.ToString());
                    await stdout.WriteAsync(bytes, ct);
                }
                try
                {
                    await using var content = await response.Content.ReadAsStreamAsync(ct);
                    if (outFile is not null)
                    {
                        await using var file = new FileStream(outFile.FullName, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
                        await content.CopyToAsync(file, 1 << 16, ct);
                    }
                    else
                    {
                        await content.CopyToAsync(stdout, 1 << 16, ct);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or PeerFetchException || ex is IOException && ex is not DirectoryNotFoundException)
                {
                    throw new CliException($"the response body from {which} was cut off: {CliErrors.OneLine((ex.InnerException ?? ex).Message)}");
                }
                await stdout.FlushAsync(ct);
            }
            return 0;
        }));
        return command;
    }

    /// <summary>Largest <c>--parallel</c>.</summary>
    private const int MaxParallel = 256;

    /// <summary>Largest total of bodies buffered by <c>--parallel</c>.</summary>
    private const long MaxParallelBytes = 256L << 20;

    /// <summary>
    /// <c>--parallel n</c>: n copies of <paramref name="template"/> at once on one connection; each body is buffered
    /// (bounded in total) and written in request order; one line per distinct status on stderr.
    /// </summary>
    private static async Task<int> FetchParallelAsync(HttpClient client, HttpRequestMessage template, byte[]? body, int copies,
        FileInfo? outFile, string which, TimeSpan timeout, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        long total = 0;
        async Task<(int Status, byte[] Body)> OneAsync()
        {
            using var request = new HttpRequestMessage(template.Method, template.RequestUri);
            foreach (var h in template.Headers) request.Headers.TryAddWithoutValidation(h.Key, h.Value);
            if (template.Content is not null)
            {
                request.Content = new ByteArrayContent(body ?? []);
                foreach (var h in template.Content.Headers) request.Content.Headers.TryAddWithoutValidation(h.Key, h.Value);
            }
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, limit.Token);
            await using var content = await response.Content.ReadAsStreamAsync(limit.Token);
            using var buffer = new MemoryStream();
            byte[] chunk = new byte[1 << 16];
            int n;
            while ((n = await content.ReadAsync(chunk, limit.Token)) > 0)
            {
                if (Interlocked.Add(ref total, n) > MaxParallelBytes) throw new CliException($"--parallel: the bodies add up to more than {MaxParallelBytes >> 20} MiB");
                buffer.Write(chunk, 0, n);
            }
            return ((int)response.StatusCode, buffer.ToArray());
        }

        (int Status, byte[] Body)[] results;
        try
        {
            results = await Task.WhenAll(Enumerable.Range(0, copies).Select(_ => OneAsync()));
        }
        catch (Exception ex) when (ex is HttpRequestException or PeerFetchException or IOException || ex is OperationCanceledException && !ct.IsCancellationRequested)
        {
            string why = ex is OperationCanceledException ? $"not all {copies} responses within {timeout.TotalSeconds} s" : CliErrors.OneLine((ex.InnerException ?? ex).Message);
            throw new CliException($"no response from {which}: {why}");
        }
        await using (Stream sink = outFile is not null
            ? new FileStream(outFile.FullName, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true)
            : Console.OpenStandardOutput())
        {
            foreach (var r in results) await sink.WriteAsync(r.Body, ct);
            await sink.FlushAsync(ct);
        }
        foreach (var g in results.GroupBy(r => r.Status).OrderBy(g => g.Key))
            Console.Error.WriteLine($"fetch: {g.Count()} × {g.Key}");
        return 0;
    }

    /// <summary>The LP2P QUIC transport for <c>--transport quic</c>; an agent without <c>--http-origin</c> does not accept one.</summary>
    private static async Task<Lp2pQuicPeerFetchConnection> ConnectQuicAsync(LP2PConnection connection, string peer, TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            var transport = await LP2PQuicTransport.ConnectAsync(connection, new LP2PQuicTransportInit { ConnectTimeout = timeout }, ct);
            return new Lp2pQuicPeerFetchConnection(transport);
        }
        catch (OspException ex)
        {
            throw new CliException($"{peer} did not accept a QUIC transport (is it an agent with --http-origin?): {CliErrors.OneLine(ex.Message)}");
        }
    }

    /// <summary><c>-d text</c> is the UTF-8 text; <c>-d @file</c> the file's bytes.</summary>
    private static byte[]? ReadData(string? data)
    {
        if (data is null) return null;
        if (!data.StartsWith('@')) return System.Text.Encoding.UTF8.GetBytes(data);
        var file = new FileInfo(data[1..]);
        if (!file.Exists) throw new CliException($"-d: {file.FullName}: no such file");
        if (file.Length > MaxDataBytes) throw new CliException($"-d: {file.FullName} is larger than {MaxDataBytes >> 20} MiB");
        return File.ReadAllBytes(file.FullName);
    }

    private static List<(string Name, string Value)> ParseHeaders(string[] raw)
    {
        var list = new List<(string, string)>();
        foreach (string h in raw)
        {
            int colon = h.IndexOf(':', StringComparison.Ordinal);
            string name = colon > 0 ? h[..colon].Trim() : "";
            if (name.Length == 0 || !name.All(c => c is > ' ' and < (char)127 && !"()<>@,;:\\\"/[]?={}".Contains(c, StringComparison.Ordinal)))
                throw new CliException($"-H '{CliErrors.OneLine(h)}' is not 'Name: value'");
            string value = h[(colon + 1)..].Trim();
            if (value.Any(c => c is '\r' or '\n' or '\0')) throw new CliException($"-H '{name}': the value contains a line break");
            list.Add((name, value));
        }
        return list;
    }

}
