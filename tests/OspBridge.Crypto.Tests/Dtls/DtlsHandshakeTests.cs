using System.Text;
using OspBridge.Crypto.Dtls;
using OspBridge.Net.Simulation;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Crypto.Tests.Dtls;

public class DtlsHandshakeTests
{
    [Fact]
    public void InMemoryHandshake_AppDataBothWays_CloseNotify()
    {
        using var pair = new DtlsTestPair();
        Assert.True(pair.Handshake(), $"client {pair.Client.State} server {pair.Server.State}");
        Assert.Equal(DtlsCipherSuite.EcdheEcdsaAes128GcmSha256, pair.Client.CipherSuite);
        Assert.Equal(DtlsCipherSuite.EcdheEcdsaAes128GcmSha256, pair.Server.CipherSuite);
        Assert.Equal(SrtpProtectionProfile.AeadAes128Gcm, pair.Client.SelectedSrtpProfile);
        Assert.Equal(SrtpProtectionProfile.AeadAes128Gcm, pair.Server.SelectedSrtpProfile);
        Assert.Equal(DtlsTestPair.ServerCert.RawData, pair.Client.PeerCertificate!.RawData);
        Assert.Equal(DtlsTestPair.ClientCert.RawData, pair.Server.PeerCertificate!.RawData);

        var ck = pair.Client.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, 56);
        var sk = pair.Server.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, 56);
        Assert.Equal(ck, sk);
        Assert.NotEqual(new byte[56], ck);
        Assert.NotEqual(ck, pair.Client.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", [], 56)); // empty context != no context

        pair.Client.Send(Encoding.UTF8.GetBytes("hello server"));
        pair.Server.Send(Encoding.UTF8.GetBytes("hello client"));
        pair.Run(() => false, TimeSpan.FromSeconds(1));
        Assert.True(pair.Server.TryReadApplicationData(out var atServer));
        Assert.Equal("hello server", Encoding.UTF8.GetString(atServer.Span));
        Assert.True(pair.Client.TryReadApplicationData(out var atClient));
        Assert.Equal("hello client", Encoding.UTF8.GetString(atClient.Span));
        Assert.False(pair.Client.TryReadApplicationData(out _));

        pair.Client.Close();
        Assert.Equal(DtlsState.Closed, pair.Client.State);
        pair.Run(() => pair.Server.State == DtlsState.Closed, TimeSpan.FromSeconds(1));
        Assert.Equal(DtlsState.Closed, pair.Server.State);
        Assert.Throws<CryptoException>(() => pair.Client.Send([1]));
    }

    [Fact]
    public void Handshake_UsesHelloVerifyRequest_AndFragmentsFlightsToMtu()
    {
        using var pair = new DtlsTestPair(client: o => Clone(o, mtu: 256), server: o => Clone(o, mtu: 256));
        Assert.True(pair.Handshake());
        // flight 1 ClientHello, flight 2 HelloVerifyRequest (handshake type 3 right after the 13-byte record header)
        Assert.Equal(3, pair.ServerToClientDatagrams[0][13]);
        Assert.All(pair.ClientToServerDatagrams, d => Assert.True(d.Length <= 256));
        Assert.All(pair.ServerToClientDatagrams, d => Assert.True(d.Length <= 256));
        Assert.True(pair.ServerToClientDatagrams.Count > 3); // certificate flight needed several datagrams
    }

    [Fact]
    public void Handshake_WithoutCookie_Aes256()
    {
        using var pair = new DtlsTestPair(
            client: o => new DtlsOptions { IsClient = true, Certificate = o.Certificate, RemoteFingerprint = o.RemoteFingerprint, CipherSuites = [DtlsCipherSuite.EcdheEcdsaAes256GcmSha384], SrtpProfiles = [SrtpProtectionProfile.Aes128CmHmacSha1_80] },
            server: o => new DtlsOptions { Certificate = o.Certificate, RemoteFingerprint = o.RemoteFingerprint, UseHelloVerifyRequest = false });
        Assert.True(pair.Handshake());
        Assert.Equal(DtlsCipherSuite.EcdheEcdsaAes256GcmSha384, pair.Server.CipherSuite);
        Assert.Equal(SrtpProtectionProfile.Aes128CmHmacSha1_80, pair.Server.SelectedSrtpProfile);
        Assert.Equal(2, pair.ServerToClientDatagrams[0][13]); // ServerHello first: no HelloVerifyRequest
        Assert.Equal(pair.Client.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, 60), pair.Server.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, 60));
    }

    [Fact]
    public void FingerprintMismatch_FailsWithBadCertificate()
    {
        var other = SelfSignedCertificate.Create("mallory");
        using var pair = new DtlsTestPair(
            client: o => Clone(o, maxRetx: 2),
            server: o => new DtlsOptions { Certificate = o.Certificate, RemoteFingerprint = CertificateFingerprint.ToSdp(other) });
        pair.Run(() => pair.Server.State == DtlsState.Failed && pair.Client.State == DtlsState.Failed, TimeSpan.FromSeconds(60), throwOnFailure: false);
        Assert.Equal(DtlsState.Failed, pair.Server.State);
        Assert.Equal(CryptoError.BadCertificate, pair.Server.Error!.Error);
        Assert.Contains(pair.ServerToClientDatagrams, d => d[0] == 21 && d[^2] == 2 && d[^1] == 42); // bad_certificate sent (epoch 0)
        // The client drops that unauthenticated alert (issue 9) and fails only when its retransmissions run out.
        Assert.Equal(DtlsState.Failed, pair.Client.State);
        Assert.Equal(CryptoError.HandshakeFailure, pair.Client.Error!.Error);
        Assert.Contains("timed out", pair.Client.Error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ClientWithoutSrtp_NegotiatesNoProfile()
    {
        using var pair = new DtlsTestPair(client: o => new DtlsOptions { IsClient = true, Certificate = o.Certificate, RemoteFingerprint = o.RemoteFingerprint, SrtpProfiles = [] });
        Assert.True(pair.Handshake());
        Assert.Null(pair.Client.SelectedSrtpProfile);
        Assert.Null(pair.Server.SelectedSrtpProfile);
    }

    [Fact]
    public void Handshake_Under30PercentLossAndReordering_20Seeds()
    {
        int dropped = 0, reordered = 0;
        for (int seed = 1; seed <= 20; seed++)
        {
            var impair = new VirtualLinkOptions { LossRate = 0.30, ReorderRate = 0.3, DuplicateRate = 0.05, Delay = TimeSpan.FromMilliseconds(20), ReorderDelay = TimeSpan.FromMilliseconds(60), Seed = seed };
            using var pair = new DtlsTestPair(impair, impair with { Seed = seed + 100 },
                client: o => Clone(o, maxRetx: 30), server: o => Clone(o, maxRetx: 30));
            Assert.True(pair.Handshake(TimeSpan.FromMinutes(30)), $"seed {seed}: client {pair.Client.State} server {pair.Server.State} at {pair.Now}");
            dropped += pair.ToServer.Dropped + pair.ToClient.Dropped;
            reordered += pair.ToServer.Reordered + pair.ToClient.Reordered;
            Assert.Equal(pair.Client.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, 56), pair.Server.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, 56));
            // app data still flows (lossy, so send until one arrives, bounded)
            bool arrived = false;
            for (int i = 0; i < 50 && !arrived; i++)
            {
                pair.Client.Send([(byte)i]);
                pair.Run(() => false, TimeSpan.FromMilliseconds(200));
                arrived = pair.Server.TryReadApplicationData(out var got) && got.Length == 1;
            }
            Assert.True(arrived, $"seed {seed}: no application data arrived");
        }
        Assert.True(dropped > 20, $"only {dropped} datagrams dropped");
        Assert.True(reordered > 20, $"only {reordered} datagrams reordered");
    }

    [Fact]
    public void LostFinalFlight_ServerRetransmitsOnClientRepeat_EarlyAppDataIsKept()
    {
        int ccsDropped = 0;
        var toClient = new VirtualLinkOptions { Filter = d => !(d.Span[0] == 20 && ccsDropped++ == 0) }; // drop the first CCS+Finished datagram
        using var pair = new DtlsTestPair(toClient: toClient);
        Assert.True(pair.Run(() => pair.Server.State == DtlsState.Connected));
        Assert.Equal(DtlsState.Connecting, pair.Client.State);
        pair.Server.Send("early"u8); // reaches the client before the retransmitted Finished
        var before = pair.Now;
        Assert.True(pair.Handshake());
        Assert.True(pair.Now - before >= TimeSpan.FromSeconds(1)); // needed the client's retransmission timer
        Assert.Equal(2, pair.ServerToClientDatagrams.Count(d => d[0] == 20));
        Assert.True(pair.Client.TryReadApplicationData(out var early));
        Assert.Equal("early"u8.ToArray(), early.ToArray());
    }

    [Theory]
    [InlineData(SrtpProtectionProfile.AeadAes128Gcm, 16, 12)]
    [InlineData(SrtpProtectionProfile.Aes128CmHmacSha1_80, 16, 14)]
    [InlineData(SrtpProtectionProfile.AeadAes256Gcm, 32, 12)]
    public void SrtpKeyingMaterial_SplitPerRfc5764(SrtpProtectionProfile profile, int keyLen, int saltLen)
    {
        using var pair = new DtlsTestPair(
            client: o => new DtlsOptions { IsClient = true, Certificate = o.Certificate, RemoteFingerprint = o.RemoteFingerprint, SrtpProfiles = [profile] },
            server: o => new DtlsOptions { Certificate = o.Certificate, RemoteFingerprint = o.RemoteFingerprint, SrtpProfiles = [SrtpProtectionProfile.AeadAes256Gcm, SrtpProtectionProfile.AeadAes128Gcm, SrtpProtectionProfile.Aes128CmHmacSha1_80] });
        Assert.True(pair.Handshake());
        var c = pair.Client.GetSrtpKeyingMaterial();
        var s = pair.Server.GetSrtpKeyingMaterial();
        Assert.Equal(profile, c.Profile);
        Assert.Equal(keyLen, c.LocalMasterKey.Length);
        Assert.Equal(saltLen, c.LocalMasterSalt.Length);
        Assert.Equal(c.LocalMasterKey, s.RemoteMasterKey);
        Assert.Equal(c.LocalMasterSalt, s.RemoteMasterSalt);
        Assert.Equal(c.RemoteMasterKey, s.LocalMasterKey);
        Assert.Equal(c.RemoteMasterSalt, s.LocalMasterSalt);
        var raw = pair.Client.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, 2 * (keyLen + saltLen));
        Assert.Equal(raw, (byte[])[.. c.LocalMasterKey, .. c.RemoteMasterKey, .. c.LocalMasterSalt, .. c.RemoteMasterSalt]); // client | server | client | server
    }

    [Fact]
    public void SealApplicationData_WritesIntoCallerBuffer()
    {
        using var pair = new DtlsTestPair();
        Assert.True(pair.Handshake());
        var buf = new byte[100];
        int n = pair.Client.SealApplicationData("abc"u8, buf);
        Assert.Equal(3 + DtlsEndpoint.ApplicationDataOverhead, n);
        Assert.Equal(23, buf[0]);
        pair.Server.Receive(buf.AsSpan(0, n), pair.Now);
        Assert.True(pair.Server.TryReadApplicationData(out var got));
        Assert.Equal("abc"u8.ToArray(), got.ToArray());
        pair.Server.Receive(buf.AsSpan(0, n), pair.Now); // replay: dropped
        Assert.False(pair.Server.TryReadApplicationData(out _));
        n = pair.Client.SealApplicationData("defg"u8, buf);
        pair.Server.Receive(buf.AsSpan(0, n), pair.Now);
        Assert.Throws<CryptoException>(() => pair.Server.TryReadApplicationData(new byte[3], out _)); // too small: stays queued
        var into = new byte[DtlsEndpoint.MaxApplicationDataSize];
        Assert.True(pair.Server.TryReadApplicationData(into, out int len));
        Assert.Equal("defg"u8.ToArray(), into[..len]);
        Assert.False(pair.Server.TryReadApplicationData(into, out _));
        Assert.Throws<CryptoException>(() => pair.Client.SealApplicationData(new byte[10], new byte[20]));
    }

    [Fact]
    public void RetransmissionTimer_DoublesAndGivesUp()
    {
        var co = new DtlsOptions { IsClient = true, Certificate = DtlsTestPair.ClientCert, AllowAnyPeerCertificate = true, MaxRetransmissions = 4 };
        using var client = new DtlsEndpoint(co);
        client.Start(TimeSpan.Zero);
        Assert.True(client.TryPollDatagram(out var first));
        var times = new List<TimeSpan>();
        CryptoException? ex = null;
        for (int i = 0; i < 10 && client.NextDeadline is { } t; i++)
        {
            times.Add(t);
            client.HandleDeadline(t); // never throws: exhaustion is reported as state + event
            if (client.State == DtlsState.Failed) ex ??= client.Error;
            if (client.TryPollDatagram(out var again)) Assert.Equal(first.Length, again.Length);
        }
        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(31)], times);
        Assert.NotNull(ex);
        Assert.Equal(DtlsState.Failed, client.State);
        Assert.Null(client.NextDeadline);
    }

    internal static DtlsOptions Clone(DtlsOptions o, int? mtu = null, int? maxRetx = null) => new()
    {
        IsClient = o.IsClient,
        Certificate = o.Certificate,
        RemoteFingerprint = o.RemoteFingerprint,
        ValidatePeerCertificate = o.ValidatePeerCertificate,
        Mtu = mtu ?? o.Mtu,
        MaxRetransmissions = maxRetx ?? o.MaxRetransmissions,
        SrtpProfiles = o.SrtpProfiles,
        CipherSuites = o.CipherSuites,
        UseHelloVerifyRequest = o.UseHelloVerifyRequest,
        ExtraClientHelloExtensions = o.ExtraClientHelloExtensions,
        OfferedGroups = o.OfferedGroups,
    };
}
