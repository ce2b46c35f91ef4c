using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Dtls;
using OspBridge.Net.Simulation;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>A DTLS client and server joined by two <see cref="VirtualLink"/>s in virtual time.</summary>
internal sealed class DtlsTestPair : IDisposable
{
    private static readonly Lazy<X509Certificate2> ClientCertLazy = new(() => SelfSignedCertificate.Create("client"));
    private static readonly Lazy<X509Certificate2> ServerCertLazy = new(() => SelfSignedCertificate.Create("server"));

    public static X509Certificate2 ClientCert => ClientCertLazy.Value;
    public static X509Certificate2 ServerCert => ServerCertLazy.Value;

    public DtlsEndpoint Client { get; }
    public DtlsEndpoint Server { get; }
    public VirtualLink ToServer { get; }
    public VirtualLink ToClient { get; }
    public TimeSpan Now { get; private set; }
    public List<byte[]> ClientToServerDatagrams { get; } = [];
    public List<byte[]> ServerToClientDatagrams { get; } = [];
    public int Steps { get; private set; }

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
        ToServer = new VirtualLink(toServer);
        ToClient = new VirtualLink(toClient);
    }

    /// <summary>Moves datagrams and time until <paramref name="done"/> holds or limits are reached; returns done().</summary>
    public bool Run(Func<bool> done, TimeSpan? maxTime = null, int maxSteps = 100_000, bool throwOnFailure = true)
    {
        var limit = Now + (maxTime ?? TimeSpan.FromMinutes(10));
        if (Client.State == DtlsState.New) Client.Start(Now);
        if (Server.State == DtlsState.New) Server.Start(Now);
        while (Steps++ < maxSteps)
        {
            Flush();
            bool moved = false;
            while (ToServer.TryReceive(Now, out var d)) { Deliver(Server, d, throwOnFailure); moved = true; Flush(); }
            while (ToClient.TryReceive(Now, out var d)) { Deliver(Client, d, throwOnFailure); moved = true; Flush(); }
            if (done()) return true;
            if (moved) continue;
            var next = Min(Min(ToServer.NextDeliveryTime, ToClient.NextDeliveryTime), Min(Client.NextDeadline, Server.NextDeadline));
            if (next is null || next > limit) return done();
            if (next > Now) Now = next.Value;
            Timeout(Client, throwOnFailure);
            Timeout(Server, throwOnFailure);
        }
        return done();
    }

    public bool Handshake(TimeSpan? maxTime = null) =>
        Run(() => Client.State == DtlsState.Connected && Server.State == DtlsState.Connected, maxTime);

    public void Flush()
    {
        while (Client.TryPollDatagram(out var d))
        {
            ClientToServerDatagrams.Add(d.ToArray());
            if (ToServerTransform is null) ToServer.Send(d.Span, Now);
            else foreach (var x in ToServerTransform(d.ToArray())) ToServer.Send(x, Now);
        }
        while (Server.TryPollDatagram(out var d))
        {
            ServerToClientDatagrams.Add(d.ToArray());
            if (ToClientTransform is null) ToClient.Send(d.Span, Now);
            else foreach (var x in ToClientTransform(d.ToArray())) ToClient.Send(x, Now);
        }
    }

    /// <summary>With <paramref name="throwOnFailure"/>, rethrows the error of an endpoint that failed during <paramref name="call"/>.</summary>
    private static void Call(DtlsEndpoint ep, Action call, bool throwOnFailure)
    {
        bool failedBefore = ep.State == DtlsState.Failed;
        call();
        if (throwOnFailure && !failedBefore && ep.State == DtlsState.Failed) throw ep.Error!;
    }

    private void Deliver(DtlsEndpoint ep, byte[] d, bool throwOnFailure) => Call(ep, () => ep.Receive(d, Now), throwOnFailure);

    private void Timeout(DtlsEndpoint ep, bool throwOnFailure)
    {
        if (ep.NextDeadline is { } t && t <= Now) Call(ep, () => ep.HandleDeadline(Now), throwOnFailure);
    }

    private static TimeSpan? Min(TimeSpan? a, TimeSpan? b) => a is null ? b : b is null ? a : (a < b ? a : b);

    public void Dispose()
    {
        Client.Dispose();
        Server.Dispose();
    }
}
