using System.Net;
using OspBridge.Crypto.Tls;
using OspBridge.Net.Core;
using OspBridge.Net.Simulation;
using OspBridge.Quic.Core;
using OspBridge.Testing.Virtual;

namespace OspBridge.Quic.Tests.Support;

/// <summary>
/// The server side of a <see cref="QuicPair"/> as one core on the <see cref="VirtualNetwork"/>: until a connection
/// exists it does what a listener does with unmatched datagrams (<see cref="ServerAccept"/>: Version Negotiation,
/// Retry, accept), then it forwards everything to the accepted <see cref="ConnectionCore"/>. It also counts what the
/// anti-amplification test needs.
/// </summary>
internal sealed class ServerEndpointCore : IProtocolCore<CoreEvent>
{
    private readonly Func<ReadOnlyMemory<byte>, IQuicTlsHandshake> _tls;
    private readonly Queue<(byte[] Data, DatagramPath Path)> _responses = new();
    private readonly byte[] _response = new byte[1500];

    public ServerEndpointCore(CoreOptions options, Func<ReadOnlyMemory<byte>, IQuicTlsHandshake> tls, bool retry)
    {
        Options = options;
        _tls = tls;
        Retry = retry ? new RetryTokens(options.Random) : null;
    }

    public CoreOptions Options { get; }
    public RetryTokens? Retry { get; }
    public ConnectionCore? Server { get; private set; }
    public int RetriesSent { get; private set; }
    public long BytesSentBeforeValidation { get; private set; }
    public long BytesReceivedBeforeValidation { get; private set; }
    public bool Validated => Server is not null && Server.IsAddressValidatedForTests;

    public void Receive(Span<byte> datagram, DatagramPath path, TimeSpan now)
    {
        if (Server is null)
        {
            var address = AddressBytes(path.Remote);
            var decision = ServerAccept.Inspect(datagram, Retry, Retry is not null, address, now, Options.LocalCidLength, Options.Random, _response, out int rl, out var info);
            if (decision is AcceptDecision.Retry or AcceptDecision.VersionNegotiation)
            {
                if (decision == AcceptDecision.Retry) RetriesSent++;
                _responses.Enqueue((_response[..rl], new DatagramPath(path.Local, path.Remote)));
                return;
            }
            if (decision != AcceptDecision.Accept) return;
            Server = ServerAccept.CreateServer(Options, _tls, info);
        }
        if (!Validated) BytesReceivedBeforeValidation += datagram.Length;
        Server.Receive(datagram, path, now);
    }

    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out Transmit transmit)
    {
        if (_responses.TryDequeue(out var r))
        {
            r.Data.CopyTo(destination);
            transmit = new Transmit(r.Data.Length, r.Path);
            return true;
        }
        transmit = default;
        if (Server is null || !Server.TryPollTransmit(destination, now, out transmit)) return false;
        if (!Validated) BytesSentBeforeValidation += transmit.Length;
        return true;
    }

    public TimeSpan? NextDeadline => Server?.NextDeadline;

    public void HandleDeadline(TimeSpan now) => Server?.HandleDeadline(now);

    public bool TryPollEvent(out CoreEvent ev)
    {
        ev = default;
        return Server is not null && Server.TryPollEvent(out ev);
    }

    private static byte[] AddressBytes(IPEndPoint? ep)
    {
        if (ep is null) return [];
        var a = ep.Address.GetAddressBytes();
        return [.. a, (byte)(ep.Port >> 8), (byte)ep.Port];
    }
}

/// <summary>
/// A QUIC client core and a <see cref="ServerEndpointCore"/> on the shared <see cref="VirtualNetwork"/> test pump
/// (virtual time, seeded impairments per direction, seeded core randomness), plus the conveniences the QUIC tests
/// use: running with an application callback after every step, and the handshake as one call.
/// </summary>
internal sealed class QuicPair
{
    public static readonly IPEndPoint ClientAddress = new(IPAddress.Parse("10.0.0.1"), 50000);
    public static readonly IPEndPoint ServerAddress = new(IPAddress.Parse("10.0.0.2"), 443);

    public QuicPair(VirtualLinkOptions? up = null, VirtualLinkOptions? down = null, CoreOptions? clientOptions = null, CoreOptions? serverOptions = null,
        int serverFlightPadding = 2000, Tls13CipherSuite suite = Tls13CipherSuite.Aes128GcmSha256, bool retry = false)
    {
        Net = new VirtualNetwork(TimeSpan.FromSeconds(1));
        var co = clientOptions ?? new CoreOptions();
        if (ReferenceEquals(co.Random, CoreOptions.SystemRandom)) co.Random = new SeededRandomNumberGenerator(1);
        var so = serverOptions ?? new CoreOptions();
        if (ReferenceEquals(so.Random, CoreOptions.SystemRandom)) so.Random = new SeededRandomNumberGenerator(2);
        Client = ConnectionCore.CreateClient(co, FakeTlsHandshake.Factory(true, suite: suite), ServerAddress);
        Endpoint = new ServerEndpointCore(so, FakeTlsHandshake.Factory(false, serverFlightPadding, suite), retry);
        ClientNode = Net.Add<CoreEvent>("client", Client, null, ClientAddress);
        ServerNode = Net.Add<CoreEvent>("server", Endpoint, null, ServerAddress);
        Net.Connect(ClientNode, ServerNode, up ?? new VirtualLinkOptions { Seed = 1 }, down ?? new VirtualLinkOptions { Seed = 2 });
        Client.Start(Net.Now);
    }

    public VirtualNetwork Net { get; }
    public VirtualNode ClientNode { get; }
    public VirtualNode ServerNode { get; }
    public ConnectionCore Client { get; }
    public ServerEndpointCore Endpoint { get; }
    public ConnectionCore? Server => Endpoint.Server;
    public TimeSpan Now => Net.Now;
    public VirtualLink ToServer => Net.Link(ClientNode, ServerNode);
    public VirtualLink ToClient => Net.Link(ServerNode, ClientNode);
    public int RetriesSent => Endpoint.RetriesSent;
    public bool ServerValidated => Endpoint.Validated;
    public long ServerBytesSentBeforeValidation => Endpoint.BytesSentBeforeValidation;
    public long ServerBytesReceivedBeforeValidation => Endpoint.BytesReceivedBeforeValidation;
    public IEnumerable<CoreEvent> ClientEvents => ClientNode.EventsOf<CoreEvent>();
    public IEnumerable<CoreEvent> ServerEvents => ServerNode.EventsOf<CoreEvent>();

    /// <summary>
    /// Runs until <paramref name="done"/> holds or <paramref name="virtualLimit"/> passes; <paramref name="eachStep"/>
    /// (the application) runs before every step, and what it makes the cores send is drained at once.
    /// </summary>
    public bool RunUntil(Func<bool> done, TimeSpan virtualLimit, int maxSteps = 2_000_000, Action? eachStep = null)
    {
        var end = Now + virtualLimit;
        for (int i = 0; i < maxSteps; i++)
        {
            eachStep?.Invoke();
            Net.Drain();
            if (done()) return true;
            if (!Net.Step(end))
            {
                if (Now < end) Net.RunFor(end - Now);
                eachStep?.Invoke();
                Net.Drain();
                return done();
            }
        }
        return done();
    }

    public bool Handshake(TimeSpan? limit = null)
        => RunUntil(() => Client.State == CoreState.Connected && Server?.State == CoreState.Connected && Client.IsHandshakeConfirmed, limit ?? TimeSpan.FromSeconds(30));
}
