using System.IO.Pipelines;
using System.Text.RegularExpressions;
using OspBridge.PeerFetch.Streams;
using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch.Tests;

/// <summary>
/// The q2q mapping (docs/peerfetch.md §2.6) on an in-memory stream: the documented golden bytes, the limits checked
/// before buffering, protocol errors → RESET_STREAM + STOP_SENDING, and mutated input that never crashes or hangs.
/// </summary>
public partial class QuicExchangeTests
{
    /// <summary>One direction-pair of an in-memory QUIC-like stream, seen from one end.</summary>
    internal sealed class MemDuplex(PipeReader input, PipeWriter output) : IPeerFetchDuplex
    {
        private readonly TaskCompletionSource _writesClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public List<byte> Written { get; } = [];
        public bool Fin { get; private set; }
        public long? AbortedWrite { get; private set; }
        public long? AbortedRead { get; private set; }

        public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            if (AbortedRead is not null) throw new IOException("reads aborted");
            var r = await input.ReadAsync(cancellationToken);
            if (r.Buffer.IsEmpty && r.IsCompleted) return 0;
            int n = (int)Math.Min(buffer.Length, r.Buffer.Length);
            var slice = r.Buffer.Slice(0, n);
            System.Buffers.BuffersExtensions.CopyTo(slice, buffer.Span);
            input.AdvanceTo(slice.End);
            return n;
        }

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken)
        {
            if (AbortedWrite is not null || Fin) throw new IOException("writes closed");
            lock (Written) Written.AddRange(buffer.ToArray());
            await output.WriteAsync(buffer, cancellationToken);
            if (completeWrites) { Fin = true; await output.CompleteAsync(); _writesClosed.TrySetResult(); }
        }

        public void AbortWrite(long errorCode)
        {
            AbortedWrite ??= errorCode;
            output.Complete(new IOException($"reset {errorCode}"));
            _writesClosed.TrySetException(new IOException("aborted"));
        }

        public void AbortRead(long errorCode) => AbortedRead ??= errorCode;

        /// <summary>The peer sent STOP_SENDING.</summary>
        public void PeerStopsReading() => _writesClosed.TrySetException(new IOException("peer sent STOP_SENDING"));

        public Task WritesClosed => _writesClosed.Task;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>Two connected ends.</summary>
    internal static (MemDuplex Client, MemDuplex Device) Pair()
    {
        var up = new Pipe();
        var down = new Pipe();
        return (new MemDuplex(down.Reader, up.Writer), new MemDuplex(up.Reader, down.Writer));
    }

    private sealed class OneStream(IPeerFetchDuplex stream) : IPeerFetchStreamConnection
    {
        public ValueTask<IPeerFetchDuplex> OpenStreamAsync(CancellationToken cancellationToken) => ValueTask.FromResult(stream);
        public ValueTask<IPeerFetchDuplex?> AcceptStreamAsync(CancellationToken cancellationToken) => ValueTask.FromResult<IPeerFetchDuplex?>(null);
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    [GeneratedRegex(@"^quic ([\w ]+): ([0-9a-f]+)$", RegexOptions.Multiline)]
    private static partial Regex QuicLine();

    private static Dictionary<string, byte[]> Documented()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "OspBridge.sln"))) d = d.Parent;
        var doc = File.ReadAllText(Path.Combine(d!.FullName, "docs", "peerfetch.md"));
        return QuicLine().Matches(doc).ToDictionary(m => m.Groups[1].Value, m => Convert.FromHexString(m.Groups[2].Value));
    }

    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Client_and_device_write_the_documented_bytes_and_read_each_other()
    {
        var golden = Documented();
        Assert.Equal(["data", "request", "response head"], golden.Keys.Order());
        var (client, device) = Pair();

        var x = await PeerFetchStreamExchange.OpenAsync(new OneStream(client),
            [new(":method", "GET"), new(":path", "/api/status"), new(":authority", "device.local"), new("accept", "application/json")], endStream: true, null, CancellationToken.None);
        Assert.Equal(golden["request"], client.Written.ToArray());
        Assert.True(client.Fin);

        var served = PeerFetchStreamExchange.Accept(device, null);
        var head = await served.Head.WaitAsync(Limit);
        Assert.Equal("/api/status", head.Single(f => f.Key == ":path").Value);
        Assert.True(served.RemoteEnded); // END_STREAM on the request head

        await served.SendHeadersAsync([new(":status", "200"), new("content-type", "application/json")], endStream: false, CancellationToken.None);
        await served.WriteAsync("""{"ok":true}"""u8.ToArray(), endStream: false, CancellationToken.None);
        await served.WriteAsync(ReadOnlyMemory<byte>.Empty, endStream: true, CancellationToken.None);
        Assert.Equal([.. golden["response head"], .. golden["data"]], device.Written.ToArray());
        Assert.True(device.Fin);

        var response = await x.Head.WaitAsync(Limit);
        Assert.Equal("200", response[0].Value);
        var buffer = new byte[64];
        int n = await x.ReadAsync(buffer, CancellationToken.None);
        Assert.Equal("""{"ok":true}""", System.Text.Encoding.UTF8.GetString(buffer, 0, n));
        Assert.Equal(0, await x.ReadAsync(buffer, CancellationToken.None));
        Assert.True(x.IsComplete);
        Assert.True(served.IsComplete);
    }

    [Fact]
    public async Task Trailers_end_the_body_and_nothing_may_follow_them()
    {
        var (client, device) = Pair();
        var served = PeerFetchStreamExchange.Accept(device, null);
        await client.WriteAsync(HeadersFrame.Create(0, [new(":method", "POST"), new(":path", "/u"), new(":authority", "d")], endStream: false), false, default);
        await client.WriteAsync(DataFrame.Create(0, "abc"u8, endStream: false), false, default);
        await client.WriteAsync(HeadersFrame.Create(0, [new("x-sum", "1")], endStream: true), true, default);
        await served.Head.WaitAsync(Limit);
        var buffer = new byte[16];
        Assert.Equal(3, await served.ReadAsync(buffer, default));
        Assert.Equal(0, await served.ReadAsync(buffer, default));
        Assert.Equal("1", Assert.Single(served.Trailers!).Value);
    }

    public static TheoryData<string, byte[], long> Violations => new()
    {
        { "stream id ≠ 0", HeadersFrame.Create(1, [new(":method", "GET"), new(":path", "/"), new(":authority", "d")], false), (long)PeerFetchErrorCode.ProtocolError },
        { "DATA before the head", DataFrame.Create(0, "x"u8, false), (long)PeerFetchErrorCode.ProtocolError },
        { "PING on a request stream", PingFrame.Create(1, false), (long)PeerFetchErrorCode.ProtocolError },
        { "HEADERS above 64 KiB", FrameHeader.Allocate(FrameType.Headers, FrameFlags.None, 0, (64 << 10) + 1)[..FrameHeader.Size], (long)PeerFetchErrorCode.FrameSizeError },
        { "malformed HEADERS", [.. FrameHeader.Allocate(FrameType.Headers, FrameFlags.None, 0, 3)[..FrameHeader.Size], 0, 5, 0], (long)PeerFetchErrorCode.ProtocolError },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public async Task Violations_before_the_head_reset_the_stream_both_ways(string what, byte[] bytes, long code)
    {
        var (client, device) = Pair();
        var served = PeerFetchStreamExchange.Accept(device, null);
        await client.WriteAsync(bytes, completeWrites: false, default);
        var ex = await Assert.ThrowsAsync<PeerFetchException>(() => served.Head.WaitAsync(Limit));
        Assert.Equal(PeerFetchError.Protocol, ex.Error);
        Assert.True(device.AbortedRead == code, $"{what}: STOP_SENDING {device.AbortedRead}");
        Assert.True(device.AbortedWrite == code, $"{what}: RESET_STREAM {device.AbortedWrite}");
    }

    [Fact]
    public async Task Oversized_DATA_and_bytes_after_END_STREAM_are_errors()
    {
        var (client, device) = Pair();
        var served = PeerFetchStreamExchange.Accept(device, null);
        await client.WriteAsync(HeadersFrame.Create(0, [new(":method", "PUT"), new(":path", "/"), new(":authority", "d")], endStream: false), false, default);
        await client.WriteAsync(FrameHeader.Allocate(FrameType.Data, FrameFlags.None, 0, (256 << 10) + 1).AsMemory(0, FrameHeader.Size), false, default);
        await served.Head.WaitAsync(Limit);
        var ex = await Assert.ThrowsAsync<PeerFetchException>(async () => await served.ReadAsync(new byte[16], default));
        Assert.Equal(PeerFetchError.Protocol, ex.Error);
        Assert.Equal((long)PeerFetchErrorCode.FrameSizeError, device.AbortedWrite);

        (client, device) = Pair();
        served = PeerFetchStreamExchange.Accept(device, null);
        await client.WriteAsync(HeadersFrame.Create(0, [new(":method", "PUT"), new(":path", "/"), new(":authority", "d")], endStream: false), false, default);
        await client.WriteAsync(DataFrame.Create(0, "ab"u8, endStream: true), false, default);
        await client.WriteAsync(DataFrame.Create(0, "cd"u8, endStream: false), true, default);
        await served.Head.WaitAsync(Limit);
        var buffer = new byte[16];
        int got = 0;
        while (got < 2) got += await served.ReadAsync(buffer.AsMemory(got, 2 - got), default);
        Assert.True(buffer.AsSpan(0, 2).SequenceEqual("ab"u8));
        await Assert.ThrowsAsync<PeerFetchException>(async () => await served.ReadAsync(buffer, default));
        Assert.Equal((long)PeerFetchErrorCode.ProtocolError, device.AbortedRead);
    }

    [Fact]
    public async Task A_peer_that_stops_reading_aborts_the_served_exchange()
    {
        var (client, device) = Pair();
        var served = PeerFetchStreamExchange.Accept(device, null);
        await client.WriteAsync(HeadersFrame.Create(0, [new(":method", "GET"), new(":path", "/wait"), new(":authority", "d")], endStream: true), true, default);
        await served.Head.WaitAsync(Limit);
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        served.SetOnAborted(() => aborted.TrySetResult());
        device.PeerStopsReading();
        await aborted.Task.WaitAsync(Limit);
        Assert.Equal((long)PeerFetchErrorCode.Cancel, device.AbortedWrite);
    }

    [Fact]
    public async Task Mutated_streams_never_crash_or_hang()
    {
        byte[] good = [.. HeadersFrame.Create(0, [new(":method", "POST"), new(":path", "/api/x"), new(":authority", "device.local"), new("content-type", "text/plain")], endStream: false),
            .. DataFrame.Create(0, "hello world"u8, endStream: false), .. HeadersFrame.Create(0, [new("x-t", "v")], endStream: true)];
        var random = new Random(1234);
        for (int i = 0; i < 500; i++)
        {
            var bytes = good.ToArray();
            int edits = 1 + random.Next(4);
            for (int e = 0; e < edits; e++) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            if (random.Next(4) == 0) bytes = bytes[..random.Next(bytes.Length)];
            var (client, device) = Pair();
            var served = PeerFetchStreamExchange.Accept(device, null);
            await client.WriteAsync(bytes, completeWrites: true, default);
            try
            {
                await served.Head.WaitAsync(Limit);
                var buffer = new byte[1024];
                long total = 0;
                int n;
                while ((n = await served.ReadAsync(buffer, default).AsTask().WaitAsync(Limit)) > 0) total += n;
                Assert.True(total <= bytes.Length);
            }
            catch (PeerFetchException)
            {
                // rejected: must have reset the stream
                Assert.NotNull(device.AbortedRead);
            }
        }
    }
}
