using System.Security.Cryptography;

namespace OspBridge.Quic.Tests;

/// <summary>
/// The peer's STOP_SENDING is ordinary stream behaviour (a server answers 413 and stops reading the body): our
/// application completing or aborting its writes afterwards must fail only that stream's operations, never the
/// connection's loop. Found in session 15: <see cref="QuicStream.CompleteWrites"/> after STOP_SENDING threw inside a
/// loop action, the loop failed and the connection closed with INTERNAL_ERROR (PeerFetch's 413 test over QUIC, flaky).
/// </summary>
public sealed class StopSendingThenCompleteWritesTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Completing_or_aborting_writes_after_the_peers_STOP_SENDING_keeps_the_connection(bool abortInstead)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var listener = await LoopbackApiTests.Listen();
        var accepted = listener.AcceptConnectionAsync(cts.Token).AsTask();
        await using var client = await LoopbackApiTests.Connect(listener.LocalEndPoint);
        await using var server = await accepted;

        await using var stream = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, cts.Token);
        await stream.WriteAsync(new byte[1000], cts.Token);
        await using var peer = await server.AcceptInboundStreamAsync(cts.Token);
        peer.Abort(QuicAbortDirection.Read, 413); // STOP_SENDING
        // our side learns of it: its writes are closed with the peer's code
        var stopped = await Assert.ThrowsAnyAsync<QuicException>(() => stream.WritesClosed.WaitAsync(cts.Token));
        Assert.Equal(413, stopped.ApplicationErrorCode);

        if (abortInstead) stream.Abort(QuicAbortDirection.Write, 7);
        else stream.CompleteWrites();

        // the connection is still usable both ways: a second stream echoes 64 KiB
        await using var second = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, cts.Token);
        var data = RandomNumberGenerator.GetBytes(64 << 10);
        await second.WriteAsync(data, completeWrites: true, cts.Token);
        await using var echo = await server.AcceptInboundStreamAsync(cts.Token);
        var got = new MemoryStream();
        var buf = new byte[16384];
        int n;
        while ((n = await echo.ReadAsync(buf, cts.Token)) > 0) got.Write(buf, 0, n);
        Assert.Equal(data, got.ToArray());
        await echo.WriteAsync(data, completeWrites: true, cts.Token);
        var back = new MemoryStream();
        while ((n = await second.ReadAsync(buf, cts.Token)) > 0) back.Write(buf, 0, n);
        Assert.Equal(data, back.ToArray());
    }
}
