using OspBridge.Crypto.Dtls;
using OspBridge.Crypto.Dtls.Messages;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>A real Chromium 156 WebRTC ClientHello (see <see cref="ChromiumCapture"/>) negotiated to DTLS 1.2.</summary>
public class ChromiumClientHelloTests
{
    private static byte[][] Datagrams => ChromiumCapture.ClientHelloDatagramsHex.Select(Convert.FromHexString).ToArray();

    [Fact]
    public void CapturedHello_Parses_AndOffersDtls13WithPostQuantumShares()
    {
        var msgs = DtlsBrowserHelloTests.ReassembleFlight(Datagrams);
        Assert.Single(msgs);
        Assert.Equal(TlsHandshakeType.ClientHello, msgs[0].Type);
        Assert.Equal(1413, msgs[0].Body.Length);
        var ch = ClientHello.Parse(msgs[0].Body);
        Assert.Equal(0xFEFD, ch.Version);
        Assert.Contains((ushort)0xC02B, ch.CipherSuites);
        Assert.Contains(NamedGroup.Secp256r1, TlsExtensions.ReadU16List(TlsExtensions.Find(ch.Extensions, TlsExtensionType.SupportedGroups)!, 2, 2));
        Assert.Equal([4, 0xFE, 0xFC, 0xFE, 0xFD], TlsExtensions.Find(ch.Extensions, TlsExtensionType.SupportedVersions));
        Assert.True(TlsExtensions.Find(ch.Extensions, TlsExtensionType.KeyShare)!.Length > 1216);
        Assert.NotNull(TlsExtensions.Find(ch.Extensions, TlsExtensionType.ExtendedMasterSecret));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CapturedHello_ServerWithoutCookie_AnswersDtls12OnP256(bool reversed)
    {
        using var server = new DtlsEndpoint(new DtlsOptions { Certificate = DtlsTestPair.ServerCert, AllowAnyPeerCertificate = true, UseHelloVerifyRequest = false });
        var dgs = Datagrams;
        if (reversed) Array.Reverse(dgs);
        server.Receive(dgs[0], TimeSpan.Zero);
        Assert.False(server.TryPollDatagram(out _)); // half a hello: nothing yet
        server.Receive(dgs[1], TimeSpan.Zero);
        var flight = new List<byte[]>();
        while (server.TryPollDatagram(out var d)) flight.Add(d.ToArray());
        Assert.All(flight, d => Assert.True(d.Length <= 1200));
        var msgs = DtlsBrowserHelloTests.ReassembleFlight(flight);
        Assert.Equal([2, 11, 12, 13, 14], msgs.Select(m => m.Type).ToArray());
        var sh = ServerHello.Parse(msgs[0].Body);
        Assert.Equal(0xFEFD, sh.Version);
        Assert.Equal(0xC02B, sh.CipherSuite);
        Assert.Equal(SrtpProtectionProfile.AeadAes128Gcm, server.SelectedSrtpProfile);
        Assert.Equal(NamedGroup.Secp256r1, ServerKeyExchange.Parse(msgs[2].Body).Group);
        Assert.Contains(DtlsCertificateRequest.EcdsaSign, DtlsCertificateRequest.Parse(msgs[3].Body).CertificateTypes);
        // no DTLS 1.3 downgrade sentinel ("DOWNGRD") in the server random: we are a DTLS 1.2-only server
        Assert.NotEqual("DOWNGRD"u8.ToArray(), sh.Random.AsSpan(24, 7).ToArray());
    }

    [Fact]
    public void CapturedHello_ServerWithCookie_SendsHelloVerifyRequest()
    {
        using var server = new DtlsEndpoint(new DtlsOptions { Certificate = DtlsTestPair.ServerCert, AllowAnyPeerCertificate = true });
        foreach (var d in Datagrams) server.Receive(d, TimeSpan.Zero);
        Assert.True(server.TryPollDatagram(out var hvr));
        Assert.False(server.TryPollDatagram(out _));
        var msgs = DtlsBrowserHelloTests.ReassembleFlight([hvr.ToArray()]);
        Assert.Equal(TlsHandshakeType.HelloVerifyRequest, Assert.Single(msgs).Type);
        Assert.Equal(20, HelloVerifyRequest.Parse(msgs[0].Body).Cookie.Length);
    }
}
