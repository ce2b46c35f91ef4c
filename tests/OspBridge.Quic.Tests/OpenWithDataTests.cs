namespace OspBridge.Quic.Tests;

/// <summary>
/// Issue 11, session 17: <see cref="QuicConnection.OpenOutboundStreamAsync(QuicStreamType, ReadOnlyMemory{byte}, bool, CancellationToken)"/>
/// opens a stream and writes its first bytes (and FIN) in one loop pass. The data and FIN arrive, in one packet when
/// small; flow control holds back what the peer has no credit for; the peer's stream limit makes the call wait. Real UDP
/// sockets on 127.0.0.1, real TLS.
/// </summary>
public class OpenWithDataTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Small_data_and_FIN_go_out_in_the_streams_first_packet_and_arrive()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var pair = await LoopbackPair.ConnectAsync(ct);
        var (client, server) = (pair.Client, pair.Server);
        var warm = await WarmAsync(client, server, ct);

        long before = await client.InvokeAsync(_ => client.Core.PacketsSent, ct);
        byte[] request = [.. Enumerable.Range(0, 300).Select(i => (byte)i)];
        var stream = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, request, completeWrites: true, ct);
        long after = await client.InvokeAsync(_ => client.Core.PacketsSent, ct);
        Assert.Equal(1, after - before); // open, data and FIN: one pass, one packet
        Assert.Equal(4, stream.Id); // the client's second bidirectional stream
        Assert.True(stream.CanRead && stream.CanWrite);
        await stream.WritesClosed.WaitAsync(ct); // everything (FIN included) acknowledged
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await stream.WriteAsync(new byte[] { 1 }, ct));

        await using var accepted = await server.AcceptInboundStreamAsync(ct);
        Assert.Equal(stream.Id, accepted.Id);
        Assert.Equal(request, await ReadAllAsync(accepted, ct)); // data, then FIN (ReadAllAsync ends on 0)
        await accepted.WriteAsync("answer"u8.ToArray(), completeWrites: true, ct);
        Assert.Equal("answer"u8.ToArray(), await ReadAllAsync(stream, ct));
        await stream.DisposeAsync();
        await warm.DisposeAsync();
    }

    [Fact]
    public async Task Streams_opened_together_share_packets()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var pair = await LoopbackPair.ConnectAsync(ct);
        var (client, server) = (pair.Client, pair.Server);
        var warm = await WarmAsync(client, server, ct);

        // 32 requests of 100 bytes issued back to back: their passes are queued, not run on this thread one by one, so
        // they share passes and packets (run inline, each would flush its own packet: 32).
        const int Count = 32;
        long before = await client.InvokeAsync(_ => client.Core.PacketsSent, ct);
        var opens = Enumerable.Range(0, Count).Select(i => client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, Enumerable.Repeat((byte)i, 100).ToArray(), completeWrites: true, ct).AsTask()).ToList();
        var streams = await Task.WhenAll(opens);
        long after = await client.InvokeAsync(_ => client.Core.PacketsSent, ct);
        Assert.True(after - before < Count, $"{after - before} packets for {Count} streams opened together");
        for (int i = 0; i < Count; i++)
        {
            await using var s = await server.AcceptInboundStreamAsync(ct);
            Assert.Equal(streams[i].Id, s.Id);
            Assert.Equal(Enumerable.Repeat((byte)i, 100).ToArray(), await ReadAllAsync(s, ct));
        }
        foreach (var s in streams) await s.DisposeAsync();
        await warm.DisposeAsync();
    }

    [Fact]
    public async Task Data_beyond_the_peers_stream_window_waits_for_credit_and_arrives_whole()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var pair = await LoopbackPair.ConnectAsync(ct);
        var (client, server) = (pair.Client, pair.Server);

        // 16 MiB against the server's 256 KiB stream window (1 MiB connection window) and the stream's 4 MiB send buffer:
        // the call completes once all of it is in the send buffer, which cannot happen before the server reads.
        byte[] data = new byte[16 << 20];
        new Random(17).NextBytes(data);
        var opening = client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, data, completeWrites: true, ct).AsTask();
        var accepted = await server.AcceptInboundStreamAsync(ct);
        await Task.Delay(300, ct);
        Assert.False(opening.IsCompleted, "16 MiB were taken without the peer granting credit");
        ulong received = await server.InvokeAsync(_ => server.Core.GetStream(accepted.Id)!.CountedRecv, ct);
        Assert.True(received <= 256u << 10, $"the server received {received} bytes, more than its 256 KiB stream window");

        var reading = ReadAllAsync(accepted, ct);
        await using var stream = await opening.WaitAsync(ct);
        Assert.Equal(data, await reading);
        await accepted.DisposeAsync();
    }

    [Fact]
    public async Task At_the_peers_stream_limit_the_call_waits_until_a_stream_is_granted()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var pair = await LoopbackPair.ConnectAsync(ct);
        var (client, server) = (pair.Client, pair.Server);

        // The server grants 100 bidirectional streams: 100 open at once, the 101st waits.
        var open = new List<QuicStream>();
        for (int i = 0; i < 100; i++) open.Add(await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, new[] { (byte)i }, completeWrites: true, ct));
        var waiting = client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, new byte[] { 200 }, completeWrites: true, ct).AsTask();
        await Task.Delay(300, ct);
        Assert.False(waiting.IsCompleted, "a 101st stream opened against a limit of 100");

        // The server finishes the first stream both ways; the client reads its FIN: the stream is done, the server
        // grants one more (MAX_STREAMS) and the waiting call opens it with its data.
        var first = await server.AcceptInboundStreamAsync(ct);
        Assert.Equal([0], await ReadAllAsync(first, ct));
        await first.WriteAsync(ReadOnlyMemory<byte>.Empty, completeWrites: true, ct);
        await first.DisposeAsync();
        Assert.Empty(await ReadAllAsync(open[0], ct));
        await open[0].DisposeAsync();

        var late = await waiting.WaitAsync(ct);
        Assert.Equal(400, late.Id); // stream 100 of the client's bidirectional ones
        for (int i = 1; i < 100; i++)
        {
            await using var s = await server.AcceptInboundStreamAsync(ct);
            Assert.Equal([(byte)i], await ReadAllAsync(s, ct));
        }
        await using var last = await server.AcceptInboundStreamAsync(ct);
        Assert.Equal(late.Id, last.Id);
        Assert.Equal([200], await ReadAllAsync(last, ct));
        foreach (var s in open.Skip(1)) await s.DisposeAsync();
        await late.DisposeAsync();
    }

    [Fact]
    public async Task A_cancelled_open_that_waits_for_credit_aborts_its_stream()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var pair = await LoopbackPair.ConnectAsync(ct);
        var (client, server) = (pair.Client, pair.Server);

        using var give = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var opening = client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, new byte[16 << 20], completeWrites: true, give.Token).AsTask();
        await using var accepted = await server.AcceptInboundStreamAsync(ct);
        await Task.Delay(100, ct);
        await give.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => opening);
        // The stream was aborted: the server's reads end with the reset instead of waiting for bytes that never come.
        var ex = await Assert.ThrowsAsync<QuicException>(async () => await ReadAllAsync(accepted, ct));
        Assert.Equal(QuicError.StreamAborted, ex.QuicError);
    }

    /// <summary>A first stream there and back, then 200 ms: the handshake's last packets and the delayed ACKs are behind us, so packet counts that follow are the test's own.</summary>
    private static async Task<QuicStream> WarmAsync(QuicConnection client, QuicConnection server, CancellationToken ct)
    {
        var warm = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, new byte[] { 1 }, completeWrites: true, ct);
        await using (var first = await server.AcceptInboundStreamAsync(ct)) Assert.Equal([1], await ReadAllAsync(first, ct));
        await Task.Delay(200, ct);
        return warm;
    }

    internal static async Task<byte[]> ReadAllAsync(QuicStream stream, CancellationToken ct)
    {
        using var ms = new MemoryStream();
        var buffer = new byte[64 << 10];
        int n;
        while ((n = await stream.ReadAsync(buffer, ct)) > 0) ms.Write(buffer, 0, n);
        return ms.ToArray();
    }
}
