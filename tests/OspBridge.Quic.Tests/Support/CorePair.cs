using OspBridge.Crypto.Tls;
using OspBridge.Net.Simulation;
using OspBridge.Quic.Core;

namespace OspBridge.Quic.Tests.Support;

/// <summary>
/// A client and a server connection core joined by two <see cref="VirtualLink"/>s in virtual time (no sockets).
/// <see cref="Step"/> delivers due datagrams, runs timers, flushes output, then jumps to the next event time.
/// </summary>
internal sealed class CorePair
{
    public readonly VirtualLink ToServer, ToClient;
    public ConnectionCore Client;
    public ConnectionCore? Server;
    public TimeSpan Now = TimeSpan.FromSeconds(1);
    public readonly CoreOptions ServerOptions;
    public readonly RetryTokens? Retry;
    private readonly Func<ReadOnlyMemory<byte>, IQuicTlsHandshake> _serverTls;
    private readonly byte[] _buf = new byte[1500];
    public long ServerBytesSentBeforeValidation, ServerBytesReceivedBeforeValidation;
    public int RetriesSent;
    public readonly List<CoreEvent> ClientEvents = new(), ServerEvents = new();

    public CorePair(VirtualLinkOptions? up = null, VirtualLinkOptions? down = null, CoreOptions? clientOptions = null, CoreOptions? serverOptions = null,
        int serverFlightPadding = 2000, Tls13CipherSuite suite = Tls13CipherSuite.Aes128GcmSha256, bool retry = false)
    {
        ToServer = new VirtualLink(up ?? new VirtualLinkOptions { Seed = 1 });
        ToClient = new VirtualLink(down ?? new VirtualLinkOptions { Seed = 2 });
        Client = ConnectionCore.CreateClient(clientOptions ?? new CoreOptions(), FakeTlsHandshake.Factory(true, suite: suite));
        ServerOptions = serverOptions ?? new CoreOptions();
        _serverTls = FakeTlsHandshake.Factory(false, serverFlightPadding, suite);
        Retry = retry ? new RetryTokens() : null;
        Client.Start(Now);
    }

    private static readonly byte[] ClientAddress = [127, 0, 0, 1, 0x30, 0x39];

    public void Step(Action? app = null)
    {
        // deliver
        while (ToServer.TryReceive(Now, out var d))
        {
            if (Server is null)
            {
                var resp = new byte[1500];
                var decision = ServerAccept.Inspect(d, Retry, ClientAddress, Now, ServerOptions.LocalCidLength, resp, out int rl, out var info);
                if (decision == AcceptDecision.Retry) { RetriesSent++; ToClient.Send(resp.AsSpan(0, rl), Now); continue; }
                if (decision == AcceptDecision.VersionNegotiation) { ToClient.Send(resp.AsSpan(0, rl), Now); continue; }
                if (decision != AcceptDecision.Accept) continue;
                Server = ServerAccept.CreateServer(ServerOptions, _serverTls, info);
            }
            if (!ServerValidated) ServerBytesReceivedBeforeValidation += d.Length;
            Server.ReceiveDatagram(d, Now);
        }
        while (ToClient.TryReceive(Now, out var d)) Client.ReceiveDatagram(d, Now);
        // timers
        if (Client.NextTimeout(Now) <= Now) Client.HandleTimeout(Now);
        if (Server is not null && Server.NextTimeout(Now) <= Now) Server.HandleTimeout(Now);
        app?.Invoke();
        // send
        for (int i = 0; i < 10_000 && Client.TryWriteDatagram(_buf, Now, out int n); i++) ToServer.Send(_buf.AsSpan(0, n), Now);
        if (Server is not null)
        {
            for (int i = 0; i < 10_000 && Server.TryWriteDatagram(_buf, Now, out int n); i++)
            {
                if (!ServerValidated) ServerBytesSentBeforeValidation += n;
                ToClient.Send(_buf.AsSpan(0, n), Now);
            }
        }
        while (Client.TryDequeueEvent(out var e)) ClientEvents.Add(e);
        while (Server is not null && Server.TryDequeueEvent(out var e)) ServerEvents.Add(e);
    }

    public bool ServerValidated => Server is not null && Server.IsAddressValidatedForTests;

    /// <summary>Advances virtual time to the next thing that can happen.</summary>
    public void Advance(TimeSpan? cap = null)
    {
        var next = TimeSpan.MaxValue;
        if (ToServer.NextDeliveryTime is { } a && a < next) next = a;
        if (ToClient.NextDeliveryTime is { } b && b < next) next = b;
        var c = Client.NextTimeout(Now); if (c < next) next = c;
        if (Server is not null) { var s = Server.NextTimeout(Now); if (s < next) next = s; }
        if (next == TimeSpan.MaxValue) next = Now + TimeSpan.FromMilliseconds(1);
        if (cap is { } c2 && next > c2) next = c2;
        Now = next > Now ? next : Now + TimeSpan.FromTicks(1);
    }

    /// <summary>Runs until <paramref name="done"/> or the virtual deadline / step budget is hit.</summary>
    public bool RunUntil(Func<bool> done, TimeSpan virtualLimit, int maxSteps = 2_000_000, Action? eachStep = null)
    {
        var end = Now + virtualLimit;
        for (int i = 0; i < maxSteps && Now < end; i++)
        {
            Step(eachStep);
            if (done()) return true;
            Advance(end);
        }
        return done();
    }

    public bool Handshake(TimeSpan? limit = null)
        => RunUntil(() => Client.State == CoreState.Connected && Server?.State == CoreState.Connected && Client.IsHandshakeConfirmed, limit ?? TimeSpan.FromSeconds(30));
}
