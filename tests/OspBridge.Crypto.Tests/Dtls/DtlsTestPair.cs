using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Certificates;
using OspBridge.Crypto.Dtls;
using OspBridge.Net.Simulation;
using OspBridge.Testing.Virtual;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>
/// A DTLS client and server on the shared test pump, <see cref="VirtualNetwork"/> (virtual time, seeded impairments).
/// A thin helper for this layer: it creates the two endpoints, starts them, records what each sent, offers
/// per-direction rewriting through <see cref="VirtualNetwork.Rewrite"/> and turns a failure into an exception when asked.
/// </summary>
internal sealed class DtlsTestPair : IDisposable
{
    private static readonly Lazy<X509Certificate2> ClientCertLazy = new(() => SelfSignedCertificate.Create("client"));
    private static readonly Lazy<X509Certificate2> ServerCertLazy = new(() => SelfSignedCertificate.Create("server"));

    private readonly Dictionary<DtlsEndpoint, List<DtlsEvent>> _events = [];
    private readonly Queue<CryptoException> _failures = new();

    public static X509Certificate2 ClientCert => ClientCertLazy.Value;
    public static X509Certificate2 ServerCert => ServerCertLazy.Value;

    public VirtualNetwork Net { get; } = new();
    public DtlsEndpoint Client { get; }
    public DtlsEndpoint Server { get; }
    public VirtualNode ClientNode { get; }
    public VirtualNode ServerNode { get; }
    public VirtualLink ToServer => Net.Link(ClientNode, ServerNode);
    public VirtualLink ToClient => Net.Link(ServerNode, ClientNode);
    public TimeSpan Now => Net.Now;
    public List<byte[]> ClientToServerDatagrams { get; } = [];
    public List<byte[]> ServerToClientDatagrams { get; } = [];

    /// <summary>Optional rewriting of each client-to-server datagram (e.g. re-fragmenting and reordering).</summary>
    public Func<byte[], IEnumerable<byte[]>>? ToServerTransform { get; set; }

    /// <summary>Optional rewriting of each server-to-client datagram.</summary>
    public Func<byte[], IEnumerable<byte[]>>? ToClientTransform { get; set; }

    public DtlsTestPair(
        VirtualLinkOptions? toServer = null, VirtualLinkOptions? toClient = null,
        Func<DtlsOptions, DtlsOptions>? client = null, Func<DtlsOptions, DtlsOptions>? server = null)
    {
        var co = new DtlsOptions
        {
            IsClient = true,
            Certificate = ClientCert,
            RemoteFingerprint = CertificateFingerprint.ToSdp(ServerCert),
        };
        var so = new DtlsOptions
        {
            IsClient = false,
            Certificate = ServerCert,
            RemoteFingerprint = CertificateFingerprint.ToSdp(ClientCert),
        };
        Client = new DtlsEndpoint(client?.Invoke(co) ?? co);
        Server = new DtlsEndpoint(server?.Invoke(so) ?? so);
        _events[Client] = [];
        _events[Server] = [];
        ClientNode = Net.Add("client", new DtlsCore(Client), e => OnEvent(Client, e));
        ServerNode = Net.Add("server", new DtlsCore(Server), e => OnEvent(Server, e));
        // Each direction gets exactly its own impairments (no delay, no loss unless given).
        Net.Connect(ClientNode, ServerNode, toServer ?? new VirtualLinkOptions(), toClient ?? new VirtualLinkOptions());
        Net.OnSend = (from, _, d) => (from == ClientNode ? ClientToServerDatagrams : ServerToClientDatagrams).Add(d.ToArray());
        Net.Rewrite = (from, _, d) =>
        {
            var t = from == ClientNode ? ToServerTransform : ToClientTransform;
            return t is null ? [d] : t(d.ToArray()).Select(x => (ReadOnlyMemory<byte>)x);
        };
    }

    private void OnEvent(DtlsEndpoint ep, DtlsEvent e)
    {
        _events[ep].Add(e);
        if (e is { Kind: DtlsEventKind.StateChanged, State: DtlsState.Failed, Error: { } error }) _failures.Enqueue(error);
    }

    /// <summary>
    /// Starts both endpoints and runs the network until <paramref name="done"/> holds, the network is idle, or the limits
    /// are reached; returns done(). With <paramref name="throwOnFailure"/>, an endpoint failing during the run throws its error.
    /// </summary>
    public bool Run(Func<bool> done, TimeSpan? maxTime = null, int maxSteps = 100_000, bool throwOnFailure = true)
    {
        _failures.Clear();
        if (Client.State == DtlsState.New) Client.Start(Now);
        if (Server.State == DtlsState.New) Server.Start(Now);
        return Net.RunUntil(() =>
        {
            if (_failures.TryDequeue(out var error) && throwOnFailure) throw error;
            return done();
        }, maxTime ?? TimeSpan.FromMinutes(10), maxSteps);
    }

    public bool Handshake(TimeSpan? maxTime = null) =>
        Run(() => Client.State == DtlsState.Connected && Server.State == DtlsState.Connected, maxTime);

    /// <summary>Puts everything the endpoints want to send on the links (and drains their events).</summary>
    public void Flush() => Net.Drain();

    /// <summary>The events of <paramref name="ep"/> since the last call, in order (including ones not yet drained by the network).</summary>
    public List<DtlsEvent> TakeEvents(DtlsEndpoint ep)
    {
        while (ep.TryPollEvent(out var e)) OnEvent(ep, e);
        var list = _events[ep].ToList();
        _events[ep].Clear();
        return list;
    }

    public void Dispose()
    {
        Client.Dispose();
        Server.Dispose();
    }
}
