namespace OspBridge.Quic.Tests;

/// <summary>
/// A listener on 127.0.0.1 with one connected client and the server's side of that connection (real UDP sockets, real
/// TLS) — the setup the stream API tests share. Disposes the server side, the client and the listener, in that order.
/// </summary>
internal sealed class LoopbackPair : IAsyncDisposable
{
    private LoopbackPair(QuicListener listener, QuicConnection client, QuicConnection server)
    {
        Listener = listener;
        Client = client;
        Server = server;
    }

    public QuicListener Listener { get; }
    public QuicConnection Client { get; }
    public QuicConnection Server { get; }

    /// <summary>Listens, connects and accepts (bounded by <paramref name="ct"/>).</summary>
    public static async Task<LoopbackPair> ConnectAsync(CancellationToken ct)
    {
        var listener = await LoopbackApiTests.Listen();
        var accept = listener.AcceptConnectionAsync(ct).AsTask();
        var client = await LoopbackApiTests.Connect(listener.LocalEndPoint);
        return new LoopbackPair(listener, client, await accept);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await Client.DisposeAsync();
        await Listener.DisposeAsync();
    }
}
