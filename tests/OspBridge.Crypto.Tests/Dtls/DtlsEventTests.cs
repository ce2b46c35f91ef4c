using OspBridge.Crypto.Dtls;
using OspBridge.Net.Core;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>The sans-IO surface of <see cref="DtlsEndpoint"/> (driven through <see cref="DtlsCore"/> as an <see cref="IProtocolCore{TEvent}"/>): queued events instead of polling State.</summary>
public class DtlsEventTests
{
#pragma warning disable CA1859 // the contract's type on purpose: these tests call DtlsEndpoint through IProtocolCore
    private static IProtocolCore<DtlsEvent> Contract(DtlsEndpoint endpoint) => new DtlsCore(endpoint);
#pragma warning restore CA1859

    [Fact]
    public void Handshake_DataAndClose_AreReportedAsQueuedEventsInOrder()
    {
        using var pair = new DtlsTestPair();
        Assert.Null(Contract(pair.Client).NextDeadline); // the contract itself; not started: nothing to retransmit
        Assert.True(pair.Handshake());
        foreach (var ep in new[] { pair.Client, pair.Server })
        {
            var states = pair.TakeEvents(ep).Where(e => e.Kind == DtlsEventKind.StateChanged).Select(e => e.State).ToList();
            Assert.Equal([DtlsState.Connecting, DtlsState.Connected], states);
        }

        // three records delivered back to back: one coalesced "data available" event; reading them all re-arms it
        var buf = new byte[DtlsEndpoint.MaxApplicationDataSize];
        for (int i = 0; i < 3; i++)
        {
            int n = pair.Client.SealApplicationData([(byte)i], buf);
            pair.Server.Receive(buf.AsSpan(0, n), pair.Now);
        }
        Assert.Equal([new DtlsEvent(DtlsEventKind.ApplicationDataAvailable)], pair.TakeEvents(pair.Server));
        for (int i = 0; i < 3; i++)
        {
            Assert.True(pair.Server.TryReadApplicationData(buf, out int n));
            Assert.Equal([(byte)i], buf[..n]);
        }
        Assert.False(pair.Server.TryReadApplicationData(buf, out _));
        pair.Client.Send([9]); // through the network this time
        pair.Run(() => false, TimeSpan.FromSeconds(1));
        Assert.Equal([new DtlsEvent(DtlsEventKind.ApplicationDataAvailable)], pair.TakeEvents(pair.Server));
        Assert.True(pair.Server.TryReadApplicationData(buf, out int last));
        Assert.Equal([9], buf[..last]);

        pair.Client.Close();
        Assert.Equal([new DtlsEvent(DtlsEventKind.StateChanged, DtlsState.Closed)], pair.TakeEvents(pair.Client));
        pair.Run(() => pair.Server.State == DtlsState.Closed, TimeSpan.FromSeconds(1));
        Assert.Equal(
            [new DtlsEvent(DtlsEventKind.AlertReceived, AlertLevel: 1, AlertDescription: 0), new DtlsEvent(DtlsEventKind.StateChanged, DtlsState.Closed)],
            pair.TakeEvents(pair.Server));
    }

    [Fact]
    public void FingerprintMismatch_FailsWithEventCarryingTheError_NothingThrown()
    {
        using var pair = new DtlsTestPair(client: o => new DtlsOptions { IsClient = true, Certificate = o.Certificate, RemoteFingerprint = "sha-256 " + string.Join(':', Enumerable.Repeat("00", 32)) });
        pair.Run(() => pair.Client.State == DtlsState.Failed, TimeSpan.FromSeconds(5), throwOnFailure: false);
        Assert.Equal(DtlsState.Failed, pair.Client.State);
        var failed = pair.TakeEvents(pair.Client).Single(e => e.State == DtlsState.Failed);
        Assert.Equal(DtlsEventKind.StateChanged, failed.Kind);
        Assert.Same(pair.Client.Error, failed.Error);
        Assert.Equal(CryptoError.BadCertificate, failed.Error!.Error);
        // Our bad_certificate alert goes out in epoch 0 (unauthenticated): the server drops it (issue 9) and keeps
        // waiting, retransmitting its flight, until its own retransmission limit — it is not failed by the alert.
        Assert.Contains(pair.ClientToServerDatagrams, d => d[0] == 21 && d[^2] == 2 && d[^1] == 42);
        pair.Run(() => pair.Server.State == DtlsState.Failed, TimeSpan.FromSeconds(5), throwOnFailure: false);
        Assert.Equal(DtlsState.Connecting, pair.Server.State);
        Assert.DoesNotContain(pair.TakeEvents(pair.Server), e => e.Kind == DtlsEventKind.AlertReceived);
    }

    [Fact]
    public void TryPollTransmit_TooSmallBuffer_KeepsTheDatagramQueued()
    {
        using var pair = new DtlsTestPair();
        pair.Client.Start(TimeSpan.Zero);
        Assert.Throws<CryptoException>(() => pair.Client.TryPollTransmit(new byte[10], TimeSpan.Zero, out _));
        var buf = new byte[1500];
        Assert.True(Contract(pair.Client).TryPollTransmit(buf, TimeSpan.Zero, out var t));
        Assert.Equal(DatagramPath.None, t.Path);
        Assert.InRange(t.Length, 13 + 12 + 1, 1200); // record header + handshake header + a ClientHello, within the MTU
        Assert.Equal(22, buf[0]); // handshake record: the ClientHello
        Assert.False(pair.Client.TryPollTransmit(buf, TimeSpan.Zero, out _));
    }
}
