using OspBridge.Crypto.Dtls;
using OspBridge.Net.Core;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>The <see cref="IProtocolCore{TEvent}"/> surface of <see cref="DtlsEndpoint"/>: queued events instead of polling State.</summary>
public class DtlsEventTests
{
    private static List<DtlsEvent> Drain(DtlsEndpoint ep)
    {
        var list = new List<DtlsEvent>();
        while (ep.TryPollEvent(out var e)) list.Add(e);
        return list;
    }

    [Fact]
    public void Handshake_DataAndClose_AreReportedAsQueuedEventsInOrder()
    {
        using var pair = new DtlsTestPair();
        IProtocolCore<DtlsEvent> core = pair.Client; // the contract itself
        Assert.NotNull(core);
        Assert.True(pair.Handshake());
        foreach (var ep in new[] { pair.Client, pair.Server })
        {
            var states = Drain(ep).Where(e => e.Kind == DtlsEventKind.StateChanged).Select(e => e.State).ToList();
            Assert.Equal([DtlsState.Connecting, DtlsState.Connected], states);
        }

        // three records, one coalesced "data available" event; reading them all re-arms it
        for (int i = 0; i < 3; i++) pair.Client.Send([(byte)i]);
        pair.Run(() => false, TimeSpan.FromSeconds(1));
        var ev = Drain(pair.Server);
        Assert.Equal([new DtlsEvent(DtlsEventKind.ApplicationDataAvailable)], ev);
        var buf = new byte[DtlsEndpoint.MaxApplicationDataSize];
        for (int i = 0; i < 3; i++)
        {
            Assert.True(pair.Server.TryReadApplicationData(buf, out int n));
            Assert.Equal([(byte)i], buf[..n]);
        }
        Assert.False(pair.Server.TryReadApplicationData(buf, out _));
        pair.Client.Send([9]);
        pair.Run(() => false, TimeSpan.FromSeconds(1));
        Assert.Equal([new DtlsEvent(DtlsEventKind.ApplicationDataAvailable)], Drain(pair.Server));

        pair.Client.Close();
        Assert.Equal([new DtlsEvent(DtlsEventKind.StateChanged, DtlsState.Closed)], Drain(pair.Client));
        pair.Run(() => pair.Server.State == DtlsState.Closed, TimeSpan.FromSeconds(1));
        Assert.Equal(
            [new DtlsEvent(DtlsEventKind.AlertReceived, AlertLevel: 1, AlertDescription: 0), new DtlsEvent(DtlsEventKind.StateChanged, DtlsState.Closed)],
            Drain(pair.Server));
    }

    [Fact]
    public void FingerprintMismatch_FailsWithEventCarryingTheError_NothingThrown()
    {
        using var pair = new DtlsTestPair(client: o => new DtlsOptions { IsClient = true, Certificate = o.Certificate, RemoteFingerprint = "sha-256 " + string.Join(':', Enumerable.Repeat("00", 32)) });
        pair.Run(() => pair.Client.State == DtlsState.Failed, TimeSpan.FromSeconds(5), throwOnFailure: false);
        Assert.Equal(DtlsState.Failed, pair.Client.State);
        var failed = Drain(pair.Client).Single(e => e.State == DtlsState.Failed);
        Assert.Equal(DtlsEventKind.StateChanged, failed.Kind);
        Assert.Same(pair.Client.Error, failed.Error);
        Assert.Equal(CryptoError.BadCertificate, failed.Error!.Error);
        // the server saw our fatal bad_certificate alert (42) and failed too
        pair.Run(() => pair.Server.State == DtlsState.Failed, TimeSpan.FromSeconds(5), throwOnFailure: false);
        var serverEvents = Drain(pair.Server);
        Assert.Contains(new DtlsEvent(DtlsEventKind.AlertReceived, AlertLevel: 2, AlertDescription: 42), serverEvents);
        Assert.Equal(CryptoError.PeerAlert, serverEvents.Single(e => e.State == DtlsState.Failed).Error!.Error);
    }

    [Fact]
    public void TryPollTransmit_TooSmallBuffer_KeepsTheDatagramQueued()
    {
        using var pair = new DtlsTestPair();
        pair.Client.Start(TimeSpan.Zero);
        Assert.Throws<CryptoException>(() => pair.Client.TryPollTransmit(new byte[10], TimeSpan.Zero, out _));
        var buf = new byte[1500];
        Assert.True(pair.Client.TryPollTransmit(buf, TimeSpan.Zero, out var t));
        Assert.Equal(DatagramPath.None, t.Path);
        Assert.Equal(22, buf[0]); // handshake record: the ClientHello
        Assert.False(pair.Client.TryPollTransmit(buf, TimeSpan.Zero, out _));
    }
}
