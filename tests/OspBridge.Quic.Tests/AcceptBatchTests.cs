namespace OspBridge.Quic.Tests;

/// <summary>
/// Issue 11, session 16 (64 concurrent q2q requests, a stream each): one loop call takes every stream the peer opened
/// meanwhile and later accepts hand them out without one — in the order the peer opened them, each with its own data —
/// and a disposed stream leaves the connection's table at the loop's next pass without a pass of its own. Real UDP
/// sockets on 127.0.0.1, real TLS.
/// </summary>
public class AcceptBatchTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Streams_opened_together_are_accepted_in_order_with_their_data()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var pair = await LoopbackPair.ConnectAsync(ct);
        var (client, server) = (pair.Client, pair.Server);

        // 60 streams (under the server's limit of 100) opened and finished before the server accepts any.
        const int Count = 60;
        var opened = new List<QuicStream>();
        for (int i = 0; i < Count; i++)
        {
            var s = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, ct);
            await s.WriteAsync(new[] { (byte)i, (byte)(i * 7) }, completeWrites: true, ct);
            opened.Add(s);
        }
        // Let the server's loop receive them all (its StreamOpened events), so one accept call finds them queued.
        await WaitUntil(async () => await server.InvokeAsync(_ => server.Core.StreamCount, ct) >= Count, ct);

        var buffer = new byte[8];
        for (int i = 0; i < Count; i++)
        {
            var s = await server.AcceptInboundStreamAsync(ct);
            Assert.Equal(opened[i].Id, s.Id);
            int got = 0, n;
            while ((n = await s.ReadAsync(buffer.AsMemory(got), ct)) > 0) got += n;
            Assert.Equal(new[] { (byte)i, (byte)(i * 7) }, buffer[..got]);
            await s.WriteAsync(new[] { (byte)(i + 1) }, completeWrites: true, ct);
            await s.DisposeAsync();
        }
        for (int i = 0; i < Count; i++)
        {
            int n = await opened[i].ReadAsync(buffer, ct);
            Assert.Equal(1, n);
            Assert.Equal((byte)(i + 1), buffer[0]);
            await opened[i].DisposeAsync();
        }

        // Disposed streams leave the tables (the next pass on each side runs what dispose queued without a wake).
        await WaitUntil(async () => await server.InvokeAsync(_ => server.StreamObjectCount, ct) == 0, ct);
        await WaitUntil(async () => await client.InvokeAsync(_ => client.StreamObjectCount, ct) == 0, ct);

        // The connection still works both ways after the batch.
        var again = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, ct);
        await again.WriteAsync(new byte[] { 42 }, completeWrites: true, ct);
        var accepted = await server.AcceptInboundStreamAsync(ct);
        Assert.Equal(again.Id, accepted.Id);
        Assert.Equal(1, await accepted.ReadAsync(buffer, ct));
        Assert.Equal(42, buffer[0]);
    }

    [Fact]
    public async Task An_accept_waiting_before_the_streams_arrive_still_gets_them_all_in_order()
    {
        using var cts = new CancellationTokenSource(Limit);
        var ct = cts.Token;
        await using var pair = await LoopbackPair.ConnectAsync(ct);
        var (client, server) = (pair.Client, pair.Server);

        const int Count = 40;
        var ids = new List<long>();
        var accepting = Task.Run(async () =>
        {
            var got = new List<long>();
            for (int i = 0; i < Count; i++) got.Add((await server.AcceptInboundStreamAsync(ct)).Id);
            return got;
        }, ct);
        for (int i = 0; i < Count; i++)
        {
            var s = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, ct);
            await s.WriteAsync(new[] { (byte)i }, completeWrites: true, ct);
            ids.Add(s.Id);
        }
        Assert.Equal(ids, await accepting.WaitAsync(ct));
    }

    private static async Task WaitUntil(Func<Task<bool>> condition, CancellationToken ct)
    {
        while (!await condition()) await Task.Delay(10, ct);
    }
}
