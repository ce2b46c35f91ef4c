using System.Net;
using System.Text;
using OspBridge.PeerFetch.Streams;
using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch.Tests;

/// <summary>
/// Issue 11, session 16 (64 concurrent small GETs): a q2q exchange reads small frames through a read-ahead and the device
/// sends a small response (HEADERS + DATA + FIN) in one stream write. The bytes on the wire stay those of
/// docs/peerfetch.md §2.6; these tests pin that, that coalesced frames parse whatever way the transport splits them, and
/// that the pooled read-ahead is handed back clean between exchanges.
/// </summary>
public class SmallExchangeTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    /// <summary>A stream end whose peer already sent <c>input</c> (then FIN): reads return at most <c>chunk</c> bytes each; writes are recorded.</summary>
    private sealed class ScriptedDuplex(byte[] input, int chunk) : IPeerFetchDuplex
    {
        private int _offset;
        public int Reads { get; private set; }
        public List<(byte[] Bytes, bool Fin)> Writes { get; } = [];

        public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            Reads++;
            int n = Math.Min(Math.Min(chunk, buffer.Length), input.Length - _offset);
            input.AsSpan(_offset, n).CopyTo(buffer.Span);
            _offset += n;
            return new ValueTask<int>(n);
        }

        public ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken)
        {
            lock (Writes) Writes.Add((buffer.ToArray(), completeWrites));
            return ValueTask.CompletedTask;
        }

        public void AbortWrite(long errorCode) => throw new InvalidOperationException($"unexpected RESET_STREAM {errorCode}");
        public void AbortRead(long errorCode) => throw new InvalidOperationException($"unexpected STOP_SENDING {errorCode}");
        public Task WritesClosed => Task.CompletedTask;
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private sealed class OneStream(IPeerFetchDuplex stream) : IPeerFetchStreamConnection
    {
        private int _accepted;
        public ValueTask<IPeerFetchDuplex> OpenStreamAsync(CancellationToken cancellationToken) => ValueTask.FromResult(stream);
        public ValueTask<IPeerFetchDuplex?> AcceptStreamAsync(CancellationToken cancellationToken) =>
            ValueTask.FromResult(Interlocked.Exchange(ref _accepted, 1) == 0 ? stream : null);
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static readonly KeyValuePair<string, string>[] Request =
        [new(":method", "GET"), new(":path", "/small"), new(":authority", "device.local")];

    private static byte[] Frame(FrameType type, FrameFlags flags, ReadOnlySpan<byte> payload)
    {
        var f = new byte[FrameHeader.Size + payload.Length];
        new FrameHeader(payload.Length, type, flags, 0).Write(f);
        payload.CopyTo(f.AsSpan(FrameHeader.Size));
        return f;
    }

    private static byte[] Headers(bool endStream, params KeyValuePair<string, string>[] fields) => HeadersFrame.Create(0, fields, endStream);

    /// <summary>The client reads the head and the body through <see cref="IPeerFetchExchange"/>; the body bytes and the trailers.</summary>
    private static async Task<(List<KeyValuePair<string, string>> Head, byte[] Body, List<KeyValuePair<string, string>>? Trailers)> ReadResponseAsync(IPeerFetchDuplex transport, int readSize)
    {
        var x = await PeerFetchStreamExchange.OpenAsync(new OneStream(transport), Request, endStream: true, null, CancellationToken.None);
        var head = await x.Head.WaitAsync(Limit);
        var body = new MemoryStream();
        var buffer = new byte[readSize];
        int n;
        while ((n = await x.ReadAsync(buffer, CancellationToken.None).AsTask().WaitAsync(Limit)) > 0) body.Write(buffer, 0, n);
        Assert.True(x.RemoteEnded);
        return (head, body.ToArray(), x.Trailers);
    }

    /// <summary>A connection that opens with the first bytes (as LP2P QUIC does): records them; the plain open must not be used.</summary>
    private sealed class OpenWithData(IPeerFetchDuplex stream) : IPeerFetchStreamConnection
    {
        public List<(byte[] Bytes, bool Fin)> Opens { get; } = [];
        public ValueTask<IPeerFetchDuplex> OpenStreamAsync(CancellationToken cancellationToken) => throw new InvalidOperationException("opened without its first bytes");
        public ValueTask<IPeerFetchDuplex> OpenStreamAsync(ReadOnlyMemory<byte> first, bool completeWrites, CancellationToken cancellationToken)
        {
            Opens.Add((first.ToArray(), completeWrites));
            return ValueTask.FromResult(stream);
        }
        public ValueTask<IPeerFetchDuplex?> AcceptStreamAsync(CancellationToken cancellationToken) => ValueTask.FromResult<IPeerFetchDuplex?>(null);
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [Fact]
    public async Task A_request_head_goes_with_the_streams_opening_as_one_call_with_FIN()
    {
        // Session 17: the client hands HEADERS (END_STREAM) and FIN to the transport with the open — one call, the same
        // bytes as docs/peerfetch.md §2.6 — and the exchange counts our side as ended.
        var transport = new ScriptedDuplex([.. Headers(true, new KeyValuePair<string, string>(":status", "204"))], 4096);
        var connection = new OpenWithData(transport);
        var x = await PeerFetchStreamExchange.OpenAsync(connection, Request, endStream: true, null, CancellationToken.None);
        var open = Assert.Single(connection.Opens);
        Assert.True(open.Fin);
        Assert.Equal(Headers(true, Request), open.Bytes);
        Assert.Empty(transport.Writes);
        Assert.True(x.LocalEnded);
        Assert.Equal("204", PeerFetchHttp.Get(await x.Head.WaitAsync(Limit), ":status"));
        Assert.Equal(0, await x.ReadAsync(new byte[16], CancellationToken.None));
        Assert.True(x.IsComplete);
    }

    [Fact]
    public async Task The_default_open_with_first_bytes_opens_then_writes_them()
    {
        // A connection without its own open-with-data (the interface's default): open, then one write with FIN.
        var transport = new ScriptedDuplex([], 1);
        IPeerFetchStreamConnection connection = new OneStream(transport);
        var stream = await connection.OpenStreamAsync(new byte[] { 1, 2, 3 }, completeWrites: true, CancellationToken.None);
        Assert.Same(transport, stream);
        var write = Assert.Single(transport.Writes);
        Assert.True(write.Fin);
        Assert.Equal(new byte[] { 1, 2, 3 }, write.Bytes);

        // Without a body the request still leaves as HEADERS with END_STREAM and FIN, in one write.
        var other = new ScriptedDuplex([], 1);
        var x = await PeerFetchStreamExchange.OpenAsync(new OneStream(other), Request, endStream: true, null, CancellationToken.None);
        var head = Assert.Single(other.Writes);
        Assert.True(head.Fin);
        Assert.Equal(Headers(true, Request), head.Bytes);
        Assert.True(x.LocalEnded);
    }

    [Fact]
    public async Task A_small_response_is_one_stream_write_with_the_documented_bytes()
    {
        // docs/peerfetch.md §2.6: response head, one DATA, FIN — now handed to the transport as one write with FIN.
        var device = new ScriptedDuplex([], 1);
        var served = PeerFetchStreamExchange.Accept(device, null);
        await served.SendHeadAndBodyAsync([new(":status", "200"), new("content-type", "application/json")], """{"ok":true}"""u8.ToArray(), endStream: true, CancellationToken.None);
        var write = Assert.Single(device.Writes);
        Assert.True(write.Fin);
        Assert.Equal(Convert.FromHexString(
            "00002e0100000000000002073a73746174757300033230300c636f6e74656e742d7479706500106170706c69636174696f6e2f6a736f6e" +
            "00000b0000000000007b226f6b223a747275657d"), write.Bytes);
        Assert.True(served.LocalEnded);
    }

    [Fact]
    public async Task A_head_without_body_is_one_write_with_END_STREAM_and_FIN()
    {
        var device = new ScriptedDuplex([], 1);
        var served = PeerFetchStreamExchange.Accept(device, null);
        await served.SendHeadAndBodyAsync([new(":status", "204")], ReadOnlyMemory<byte>.Empty, endStream: true, CancellationToken.None);
        var write = Assert.Single(device.Writes);
        Assert.True(write.Fin);
        Assert.Equal(Headers(true, new KeyValuePair<string, string>(":status", "204")), write.Bytes);
    }

    [Fact]
    public async Task A_coalesced_small_response_costs_one_transport_read()
    {
        // HEADERS + DATA + FIN arriving together: one read-ahead read takes them all (was five reads: frame header,
        // header block, frame header, body, FIN), and the last read sees FIN (the transport returns 0).
        var body = Bodies.Make(1024);
        var wire = Headers(false, new(":status", "200"), new("content-length", "1024"))
            .Concat(Frame(FrameType.Data, FrameFlags.None, body)).ToArray();
        var transport = new ScriptedDuplex(wire, int.MaxValue);
        var (head, got, trailers) = await ReadResponseAsync(transport, 64 << 10);
        Assert.Equal("200", head[0].Value);
        Assert.Equal(body, got);
        Assert.Null(trailers);
        Assert.Equal(2, transport.Reads); // the read-ahead, then FIN
    }

    public static TheoryData<int, int> Splits => new()
    {
        { 1, 7 }, { 2, 4096 }, { 7, 100 }, { 9, 9 }, { 10, 65536 }, { 100, 1 }, { 1000, 3000 }, { 2047, 2048 }, { 2048, 65536 },
        { 2049, 10 }, { 4096, 65536 }, { 70000, 65536 }, { int.MaxValue, 3 }, { int.MaxValue, 300_000 },
    };

    [Theory]
    [MemberData(nameof(Splits))]
    public async Task Coalesced_frames_parse_however_the_transport_splits_them(int chunk, int readSize)
    {
        // head, a small DATA, a bulk DATA (larger than the read-ahead: its bytes then go straight to the reader), a small
        // DATA, an unknown frame type (skipped), trailers, FIN.
        var small = Bodies.Make(700, seed: 1);
        var bulk = Bodies.Make(3 * PeerFetchStreamExchange.ReadAhead + 123, seed: 2);
        var tail = Bodies.Make(50, seed: 3);
        var wire = Headers(false, new(":status", "200"), new("x-a", "1"))
            .Concat(Frame(FrameType.Data, FrameFlags.None, small))
            .Concat(Frame(FrameType.Data, FrameFlags.None, bulk))
            .Concat(Frame((FrameType)0x2a, FrameFlags.None, Bodies.Make(5000, seed: 4)))
            .Concat(Frame(FrameType.Data, FrameFlags.None, tail))
            .Concat(Headers(true, new KeyValuePair<string, string>("x-trailer", "done")))
            .ToArray();
        var (head, got, trailers) = await ReadResponseAsync(new ScriptedDuplex(wire, chunk), readSize);
        Assert.Equal([new(":status", "200"), new("x-a", "1")], head);
        Assert.Equal(small.Concat(bulk).Concat(tail).ToArray(), got);
        Assert.Equal([new("x-trailer", "done")], trailers!);
    }

    [Fact]
    public async Task Bytes_after_END_STREAM_in_the_same_read_are_a_protocol_error()
    {
        var wire = Headers(false, new KeyValuePair<string, string>(":status", "200"))
            .Concat(Frame(FrameType.Data, FrameFlags.EndStream, "ab"u8))
            .Concat(Frame(FrameType.Data, FrameFlags.None, "c"u8)).ToArray();
        var (client, _) = QuickExchange.Pair(wire);
        var x = await PeerFetchStreamExchange.OpenAsync(new OneStream(client), Request, endStream: true, null, CancellationToken.None);
        await x.Head.WaitAsync(Limit);
        var buffer = new byte[16];
        Assert.Equal(2, await x.ReadAsync(buffer, CancellationToken.None));
        var ex = await Assert.ThrowsAsync<PeerFetchException>(async () => await x.ReadAsync(buffer, CancellationToken.None));
        Assert.Equal(PeerFetchError.Protocol, ex.Error);
        Assert.Equal((long)PeerFetchErrorCode.ProtocolError, client.AbortedRead);
    }

    [Fact]
    public async Task Many_exchanges_in_a_row_reuse_the_pooled_buffers_cleanly()
    {
        // The read-ahead and the head+body buffers come from the shared pool and go back at the end of each exchange:
        // 300 exchanges with different heads and bodies (0..3000 bytes, around the read-ahead size) each read back exactly.
        var random = new Random(1611);
        for (int i = 0; i < 300; i++)
        {
            int size = random.Next(0, 3000);
            var body = Bodies.Make(size, seed: i);
            var status = (200 + (i % 7)).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var device = new ScriptedDuplex([], 1);
            var served = PeerFetchStreamExchange.Accept(device, null);
            await served.SendHeadAndBodyAsync([new(":status", status), new("x-i", new string('v', i % 97))], body, endStream: true, CancellationToken.None);
            var written = device.Writes.SelectMany(w => w.Bytes).ToArray();
            Assert.True(device.Writes[^1].Fin);
            var (head, got, _) = await ReadResponseAsync(new ScriptedDuplex(written, random.Next(1, 5000)), random.Next(1, 70000));
            Assert.Equal(status, head[0].Value);
            Assert.Equal(new string('v', i % 97), head[1].Value);
            Assert.Equal(body, got);
        }
    }

    [Fact]
    public void HeadersFrame_Write_gives_the_bytes_of_Create_and_lowercases_names()
    {
        KeyValuePair<string, string>[] mixed = [new(":status", "200"), new("Content-Type", "text/plain"), new("X-ÀB", "v")];
        KeyValuePair<string, string>[] lower = [new(":status", "200"), new("content-type", "text/plain"), new("x-àb", "v")];
        var expected = HeadersFrame.Create(7, lower, endStream: true);
        var buffer = new byte[256];
        int n = HeadersFrame.Write(buffer, 7, mixed, endStream: true, HeadersFrame.PayloadLength(mixed));
        Assert.Equal(expected, buffer.AsSpan(0, n).ToArray());

        KeyValuePair<string, string>[] ascii = [new(":status", "200"), new("content-type", "text/plain"), new("content-length", "1024")];
        var again = HeadersFrame.Create(3, ascii, endStream: false);
        n = HeadersFrame.Write(buffer, 3, ascii, endStream: false, HeadersFrame.PayloadLength(ascii));
        Assert.Equal(again, buffer.AsSpan(0, n).ToArray());
    }

    [Fact]
    public async Task The_device_sends_a_small_proxied_response_in_one_write_with_FIN()
    {
        // A device answering a 1 KiB body with a Content-Length: HEADERS + DATA + FIN in one stream write (the old path
        // was three: the head, then the body leased from the transport, then its commit).
        var body = Bodies.Make(1024, seed: 9);
        using var device = new PeerFetchDevice(new Answer(body), new PeerFetchDeviceOptions { RequestsPerSecondPerPeer = 0 });
        var transport = new ScriptedDuplex(HeadersFrame.Create(0, Request, endStream: true), int.MaxValue);
        await device.ServeAsync(new OneStream(transport), "peer").WaitAsync(Limit);
        var write = Assert.Single(transport.Writes);
        Assert.True(write.Fin);
        var (head, got, _) = await ReadResponseAsync(new ScriptedDuplex(write.Bytes, int.MaxValue), 4096);
        Assert.Equal("200", head[0].Value);
        Assert.Contains(new KeyValuePair<string, string>("content-length", "1024"), head);
        Assert.Equal(body, got);
    }

    [Fact]
    public async Task A_small_body_longer_than_announced_still_arrives_whole()
    {
        // Content-Length says 10, the application writes 20: the head and the first bytes go out together, the rest
        // streams after them as before (no byte lost, the stream ends with FIN).
        var body = Bodies.Make(20, seed: 3);
        using var device = new PeerFetchDevice(new Answer(body, announced: 10), new PeerFetchDeviceOptions { RequestsPerSecondPerPeer = 0 });
        var transport = new ScriptedDuplex(HeadersFrame.Create(0, Request, endStream: true), int.MaxValue);
        await device.ServeAsync(new OneStream(transport), "peer").WaitAsync(Limit);
        Assert.True(transport.Writes[^1].Fin);
        var (_, got, _) = await ReadResponseAsync(new ScriptedDuplex(transport.Writes.SelectMany(w => w.Bytes).ToArray(), int.MaxValue), 4096);
        Assert.Equal(body, got);
    }

    /// <summary>An application that answers every request with <c>body</c> (Content-Length <c>announced</c>, default its length).</summary>
    private sealed class Answer(byte[] body, long? announced = null) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var content = new StreamContent(new MemoryStream(body));
            content.Headers.ContentLength = announced ?? body.Length;
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = content });
        }
    }

    /// <summary>An in-memory client end whose peer already wrote <c>wire</c> and FIN (the aborts are recorded).</summary>
    private static class QuickExchange
    {
        public static (QuicExchangeTests.MemDuplex Client, QuicExchangeTests.MemDuplex Device) Pair(byte[] wire)
        {
            var (client, device) = QuicExchangeTests.Pair();
            device.WriteAsync(wire, completeWrites: true, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            return (client, device);
        }
    }
}
