using OspBridge.Testing.Logging;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using OspBridge.Net.Channels;
using OspBridge.Net.Mdns;
using OspBridge.WebRtc;
using OspBridge.WebRtc.Ice;

namespace OspBridge.Interop.Tests.WebRtc;

/// <summary>Headless Chromium ↔ our stack, both roles, everything inside network namespaces the test creates.</summary>
[Collection("Chromium WebRTC")]
public class ChromiumDataChannelTests(ITestOutputHelper output) : ChromiumPeerTestBase(output)
{
    private static RTCConfiguration Config(ChromiumHarness h) => new() { LocalAddresses = [h.OurHost.IPv4] };

    /// <summary>Our mDNS service (<see cref="MdnsService"/>) on the harness's host 1, its log into the test's.</summary>
    private MdnsService StartMdns(ChromiumHarness h) => h.OurHost.RunInNamespace(() => MdnsService.Start(new MdnsServiceOptions
    {
        Interfaces = [h.OurHost.InterfaceName],
        Logger = Logger(),
    }));

    /// <summary>Chromium's page sets up its peer connection, creates the channel <paramref name="label"/> and offers; the offer (logged).</summary>
    private async Task<string> ChromiumOffersAsync(ChromiumHarness h, string label)
    {
        await h.Page.EvaluateAsync("() => T.setup()");
        await h.Page.EvaluateAsync("label => T.createChannel(label)", label);
        string offer = await h.Page.EvaluateAsync<string>("() => T.offer()");
        Output.WriteLine(offer);
        return offer;
    }

    /// <summary>Our <paramref name="pc"/> answers Chromium's <paramref name="offer"/>; the channel Chromium opened, within <see cref="ChromiumPeerTestBase.Step"/>.</summary>
    private static async Task<RTCDataChannel> AnswerChromiumAsync(ChromiumHarness h, RTCPeerConnection pc, string offer)
    {
        var incoming = Channel.CreateUnbounded<RTCDataChannel>();
        pc.OnDataChannel += ch => incoming.Writer.TryWrite(ch);
        await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Offer, offer));
        await pc.SetLocalDescriptionAsync(await pc.CreateAnswerAsync());
        await h.Page.EvaluateAsync("sdp => T.accept(sdp)", pc.LocalDescription!.Sdp);
        using var cts = new CancellationTokenSource(Step);
        return await incoming.Reader.ReadAsync(cts.Token);
    }

    [Fact]
    public async Task Chromium_offerer_ours_answerer()
    {
        await using var h = await ChromiumHarness.StartAsync();
        try
        {
            string offer = await ChromiumOffersAsync(h, "echo-chrome");
            Assert.Contains(".local ", offer, StringComparison.Ordinal); // Chromium hides its host IPs behind mDNS names
            await using var pc = new RTCPeerConnection(Config(h), Options(h));
            var echo = await AnswerChromiumAsync(h, pc, offer);
            Assert.Equal("echo-chrome", echo.Label);
            await RunSuiteAsync(h, pc, echo);
            // Close from the browser: the whole connection.
            var closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            pc.OnConnectionStateChange += s => { if (s == RTCPeerConnectionState.Closed) closed.TrySetResult(); };
            if (pc.ConnectionState != RTCPeerConnectionState.Closed)
            {
                await h.Page.EvaluateAsync("() => T.close()");
                await closed.Task.WaitAsync(Step);
            }
        }
        finally
        {
            DumpLog(200);
        }
    }

    /// <summary>
    /// Chromium's offer carries only <c>&lt;uuid&gt;.local</c> host candidates; with an <see cref="MdnsServiceHostNames"/>
    /// over a real <see cref="MdnsService"/> in our host's namespace we resolve them through Chromium's own mDNS
    /// responder, and the selected pair's remote candidate is Chromium's signalled host candidate with its real IP
    /// (not a peer-reflexive one learnt from its checks).
    /// </summary>
    [Fact]
    public async Task Chromium_offerer_mdns_candidates_resolved()
    {
        await using var h = await ChromiumHarness.StartAsync();
        await using var mdns = StartMdns(h);
        var resolver = new RecordingHostNames(new MdnsServiceHostNames(mdns) { ResolveTimeout = TimeSpan.FromSeconds(5) });
        try
        {
            string offer = await ChromiumOffersAsync(h, "echo-mdns");
            var names = offer.Split('\n').Where(l => l.StartsWith("a=candidate:", StringComparison.Ordinal))
                .Select(l => l.Split(' ')[4]).ToList();
            Assert.NotEmpty(names);
            Assert.All(names, n => Assert.EndsWith(".local", n, StringComparison.Ordinal)); // no IP literal in Chromium's offer

            await using var pc = new RTCPeerConnection(Config(h) with { MdnsHostNames = resolver, ObfuscateHostCandidates = false }, Options(h));
            var echo = await AnswerChromiumAsync(h, pc, offer);
            using var cts = new CancellationTokenSource(Step);
            Assert.Equal("echo-mdns", echo.Label);
            echo.Send("resolved?");
            var m = await echo.ReceiveAsync(cts.Token);
            Assert.Equal("resolved?", Encoding.UTF8.GetString(m!.Value.Data.Span));

            // Chromium's responder answered for one of the names in its offer with its real address.
            string browserIp = h.BrowserHost.IPv4.ToString();
            for (int i = 0; i < 100 && !resolver.Results.Any(r => r.Address?.ToString() == browserIp); i++) await Task.Delay(100, cts.Token);
            var hit = Assert.Single(resolver.Results, r => r.Address?.ToString() == browserIp);
            Assert.Contains(hit.Name, names);
            // The resolved host candidate is what ICE selected (it replaces a peer-reflexive twin, RFC 8445 §7.3.1.3).
            for (int i = 0; i < 100 && pc.SelectedCandidatePair?.Remote.Type != IceCandidateType.Host; i++) await Task.Delay(100, cts.Token);
            var pair = pc.SelectedCandidatePair;
            Assert.NotNull(pair);
            Output.WriteLine($"selected pair {pair.Local.Candidate} -> {pair.Remote}");
            Assert.Equal(IceCandidateType.Host, pair.Remote.Type);
            Assert.Equal(browserIp, pair.Remote.Address);
            Assert.Equal(h.BrowserHost.IPv4, pair.RemoteEndPoint.Address);
            Assert.Equal(RTCPeerConnectionState.Connected, pc.ConnectionState);
        }
        finally
        {
            foreach (var r in resolver.Results) Output.WriteLine($"mDNS {r.Name} -> {r.Address?.ToString() ?? "(no answer)"}");
            DumpLog(200);
        }
    }

    /// <summary>
    /// The reverse direction: our offer hides our IP behind a <c>&lt;uuid&gt;.local</c> name published through
    /// <see cref="MdnsServiceHostNames"/>; Chromium resolves it with an mDNS query and its selected pair's remote
    /// candidate is our signalled host candidate (not one it learnt as peer-reflexive from our checks).
    /// </summary>
    [Fact]
    public async Task Ours_obfuscated_candidates_resolved_by_chromium()
    {
        await using var h = await ChromiumHarness.StartAsync();
        await using var mdns = StartMdns(h);
        try
        {
            await h.Page.EvaluateAsync("() => T.setup()");
            await using var pc = new RTCPeerConnection(Config(h) with { MdnsHostNames = new MdnsServiceHostNames(mdns), ObfuscateHostCandidates = true }, Options(h));
            var echo = pc.CreateDataChannel("echo-hidden");
            await pc.SetLocalDescriptionAsync(await pc.CreateOfferAsync());
            await pc.WaitForGatheringCompleteAsync();
            string offer = pc.LocalDescription!.Sdp;
            Output.WriteLine(offer);
            Assert.DoesNotContain(h.OurHost.IPv4.ToString(), offer, StringComparison.Ordinal);
            Assert.Contains(".local ", offer, StringComparison.Ordinal);
            string answer = await h.Page.EvaluateAsync<string>("sdp => T.answer(sdp)", offer);
            await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, answer));
            using var cts = new CancellationTokenSource(Step);
            await echo.WaitOpenAsync(cts.Token);
            echo.Send("hidden");
            var m = await echo.ReceiveAsync(cts.Token);
            Assert.Equal("hidden", Encoding.UTF8.GetString(m!.Value.Data.Span));
            const string RemoteType = """
                async () => {
                  const st = await T.pc.getStats(); let pair = null;
                  st.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = st.get(r.selectedCandidatePairId); });
                  if (!pair) return 'none';
                  const rc = st.get(pair.remoteCandidateId);
                  return rc.candidateType + ' ' + (rc.address || '') + ' ' + rc.port;
                }
                """;
            string remote = "none";
            for (int i = 0; i < 50; i++)
            {
                remote = await h.Page.EvaluateAsync<string>(RemoteType);
                if (remote.StartsWith("host", StringComparison.Ordinal)) break;
                await Task.Delay(100, cts.Token);
            }
            Output.WriteLine("Chromium's selected remote candidate: " + remote);
            Assert.StartsWith("host ", remote, StringComparison.Ordinal);
            Assert.EndsWith(" " + pc.SelectedCandidatePair!.Local.Base.Port.ToString(CultureInfo.InvariantCulture), remote, StringComparison.Ordinal);
        }
        finally
        {
            DumpLog(200);
        }
    }

    /// <summary>Records every resolution the peer connection asks for.</summary>
    private sealed class RecordingHostNames(IMdnsHostNames inner) : IMdnsHostNames
    {
        private readonly List<(string Name, IPAddress? Address)> _results = [];

        public IReadOnlyList<(string Name, IPAddress? Address)> Results { get { lock (_results) return _results.ToList(); } }

        public IAsyncDisposable Publish(string hostName, IPAddress address) => inner.Publish(hostName, address);

        public async Task<IPAddress?> ResolveAsync(string hostName, CancellationToken cancellationToken)
        {
            var ip = await inner.ResolveAsync(hostName, cancellationToken);
            lock (_results) _results.Add((hostName, ip));
            return ip;
        }
    }

    [Fact]
    public async Task Chromium_answerer_ours_offerer()
    {
        await using var h = await ChromiumHarness.StartAsync();
        try
        {
            await h.Page.EvaluateAsync("() => T.setup()");
            await using var pc = new RTCPeerConnection(Config(h), Options(h));
            var echo = pc.CreateDataChannel("echo-ours");
            await pc.SetLocalDescriptionAsync(await pc.CreateOfferAsync());
            await pc.WaitForGatheringCompleteAsync();
            string answer = await h.Page.EvaluateAsync<string>("sdp => T.answer(sdp)", pc.LocalDescription!.Sdp);
            Output.WriteLine(answer);
            Assert.Contains("a=setup:active", answer, StringComparison.Ordinal);
            await pc.SetRemoteDescriptionAsync(new RTCSessionDescription(RTCSdpType.Answer, answer));
            await echo.WaitOpenAsync(new CancellationTokenSource(Step).Token);
            await RunSuiteAsync(h, pc, echo);
            // Close from our side: the browser sees the connection close.
            await pc.CloseAsync();
            await PollAsync(h, "() => T.pc.connectionState === 'closed' || T.states.includes('closed') || T.states.includes('failed') || T.channels.every(c => c.readyState === 'closed')");
        }
        finally
        {
            DumpLog(200);
        }
    }

    private async Task RunSuiteAsync(ChromiumHarness h, RTCPeerConnection pc, RTCDataChannel echo)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        Assert.Equal(RTCPeerConnectionState.Connected, pc.ConnectionState);
        Assert.Equal(262144, echo.MaxMessageSize);

        // Text and binary echo, 1 byte .. 256 KiB (Chromium's max-message-size).
        echo.Send("héllo, chromium");
        var t = await echo.ReceiveAsync(cts.Token);
        Assert.True(t!.Value.IsText);
        Assert.Equal("héllo, chromium", Encoding.UTF8.GetString(t.Value.Data.Span));
        foreach (int size in new[] { 1, 2, 100, 1159, 1160, 1161, 16384, 65535, 65536, 131072, 262144 })
        {
            var payload = RandomNumberGenerator.GetBytes(size);
            echo.Send(payload);
            var r = await echo.ReceiveAsync(cts.Token);
            Assert.False(r!.Value.IsText);
            Assert.True(payload.AsSpan().SequenceEqual(r.Value.Data.Span), $"echo of {size} bytes differs");
        }
        string big = new('x', 200_000);
        echo.Send(big);
        var bt = await echo.ReceiveAsync(cts.Token);
        Assert.True(bt!.Value.IsText);
        Assert.Equal(big, Encoding.UTF8.GetString(bt.Value.Data.Span));

        // 20 channels at once.
        var chans = Enumerable.Range(0, 20).Select(i => pc.CreateDataChannel("ch" + i.ToString(CultureInfo.InvariantCulture))).ToList();
        await Task.WhenAll(chans.Select(c => c.WaitOpenAsync(cts.Token)));
        foreach (var c in chans) c.Send("m-" + c.Label);
        foreach (var c in chans)
        {
            var m = await c.ReceiveAsync(cts.Token);
            Assert.Equal("m-" + c.Label, Encoding.UTF8.GetString(m!.Value.Data.Span));
        }
        Assert.Equal(20, chans.Select(c => c.Id).Distinct().Count());

        // Unordered + unreliable channels (lossless veth: everything arrives, order not promised).
        var unrel = pc.CreateDataChannel("unreliable", new RTCDataChannelInit { Ordered = false, MaxRetransmits = 0 });
        var timed = pc.CreateDataChannel("timed", new RTCDataChannelInit { Ordered = false, MaxPacketLifeTime = 3000 });
        await unrel.WaitOpenAsync(cts.Token);
        await timed.WaitOpenAsync(cts.Token);
        foreach (var c in new[] { unrel, timed })
        {
            var sent = new HashSet<string>();
            for (int i = 0; i < 50; i++) { string s = c.Label + i.ToString(CultureInfo.InvariantCulture); sent.Add(s); c.Send(s); }
            var got = new HashSet<string>();
            while (got.Count < sent.Count)
            {
                var m = await c.ReceiveAsync(cts.Token);
                got.Add(Encoding.UTF8.GetString(m!.Value.Data.Span));
            }
            Assert.Equal(sent, got);
        }
        Assert.True(await h.Page.EvaluateAsync<bool>("() => T.channels.some(c => c.label === 'unreliable' && !c.ordered && c.maxRetransmits === 0)"));
        Assert.True(await h.Page.EvaluateAsync<bool>("() => T.channels.some(c => c.label === 'timed' && c.maxPacketLifeTime === 3000)"));

        // 50 MB byte-exact into the browser (SHA-256 computed there).
        var sink = pc.CreateDataChannel("sink");
        await sink.WaitOpenAsync(cts.Token);
        int total = int.Parse(Environment.GetEnvironmentVariable("OSPB_SINK_MB") ?? "50", CultureInfo.InvariantCulture) * 1024 * 1024;
        var data = new byte[total];
        new Random(50).NextBytes(data);
        var sw = Stopwatch.StartNew();
        for (int off = 0; off < total; off += 65536)
        {
            if (off % (5 << 20) == 0)
                Output.WriteLine($"{sw.Elapsed.TotalSeconds:F2}s sent {off >> 20} MiB, browser has {await h.Page.EvaluateAsync<double>("() => T.sinkBytes")}; {pc.DebugStats}");
            await sink.SendAsync(data.AsMemory(off, Math.Min(65536, total - off)), isText: false, cts.Token);
        }
        Output.WriteLine($"{sw.Elapsed.TotalSeconds:F2}s all queued; {pc.DebugStats}");
        sink.Send("done");
        ChannelMessage? digest = null;
        for (int i = 0; i < 60 && digest is null; i++)
        {
            using var slice = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
            slice.CancelAfter(TimeSpan.FromSeconds(2));
            try { digest = await sink.ReceiveAsync(slice.Token); }
            catch (OperationCanceledException) when (!cts.IsCancellationRequested)
            {
                Output.WriteLine($"{sw.Elapsed.TotalSeconds:F2}s waiting; browser has {await h.Page.EvaluateAsync<double>("() => T.sinkBytes")}; {pc.DebugStats}");
            }
        }
        sw.Stop();
        string expected = total.ToString(CultureInfo.InvariantCulture) + " " + Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();
        Assert.Equal(expected, Encoding.UTF8.GetString(digest!.Value.Data.Span));
        Output.WriteLine($"50 MiB ours -> Chromium: {sw.Elapsed.TotalSeconds:F2} s, {total * 8 / sw.Elapsed.TotalSeconds / 1e6:F1} Mbit/s");

        // Close from our side: the browser sees it.
        chans[0].Close();
        await PollAsync(h, "() => T.closed.includes('ch0')");
        // Close from the browser: we see it.
        await h.Page.EvaluateAsync("() => T.closeChannel('ch1')");
        for (int i = 0; i < 300 && chans[1].ReadyState != RTCDataChannelState.Closed; i++) await Task.Delay(100, cts.Token);
        Assert.Equal(RTCDataChannelState.Closed, chans[1].ReadyState);
        Assert.Equal(RTCDataChannelState.Open, chans[2].ReadyState);
        Assert.Empty(await h.Page.EvaluateAsync<string[]>("() => T.errors"));
    }

    private static async Task PollAsync(ChromiumHarness h, string predicate)
    {
        for (int i = 0; i < 300; i++)
        {
            if (await h.Page.EvaluateAsync<bool>(predicate)) return;
            await Task.Delay(100);
        }
        Assert.Fail("browser never satisfied: " + predicate);
    }
}
