using OspBridge.Crypto.Dtls;
using OspBridge.Crypto.Dtls.Messages;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>Protocol violations by the peer end the handshake with the right alert; cookies are really checked.</summary>
public class DtlsNegativeTests
{
    private static DtlsEndpoint StartedClient()
    {
        var c = new DtlsEndpoint(new DtlsOptions { IsClient = true, Certificate = DtlsTestPair.ClientCert, AllowAnyPeerCertificate = true });
        c.Start(TimeSpan.Zero);
        while (c.TryPollDatagram(out _)) { }
        return c;
    }

    private static ServerHello GoodServerHello() => new()
    {
        CipherSuite = 0xC02B,
        Extensions = [(TlsExtensionType.ExtendedMasterSecret, []), (TlsExtensionType.RenegotiationInfo, [0])],
    };

    private static CryptoException FeedServerHello(DtlsEndpoint client, ServerHello sh)
    {
        var body = sh.Serialize();
        var ex = client.ReceiveExpectingFailure(DtlsBrowserHelloTests.Record(TlsHandshakeType.ServerHello, 0, body, 0, body.Length, 0), TimeSpan.Zero);
        Assert.Equal(DtlsState.Failed, client.State);
        Assert.True(client.TryPollDatagram(out var alert));
        Assert.Equal(new byte[] { 21, 0xFE, 0xFD }, alert.Span[..3].ToArray());
        Assert.Equal(ex.Alert, alert.Span[^1]);
        return ex;
    }

    [Fact]
    public void ServerHello_WithUnofferedSuite_IllegalParameter()
    {
        using var c = StartedClient();
        var sh = GoodServerHello();
        sh.CipherSuite = 0xC02F;
        Assert.Equal(47, FeedServerHello(c, sh).Alert);
    }

    [Fact]
    public void ServerHello_WithoutExtendedMasterSecret_HandshakeFailure()
    {
        using var c = StartedClient();
        var sh = GoodServerHello();
        sh.Extensions.RemoveAt(0);
        Assert.Equal(40, FeedServerHello(c, sh).Alert);
    }

    [Fact]
    public void ServerHello_Dtls10_ProtocolVersion()
    {
        using var c = StartedClient();
        var sh = GoodServerHello();
        sh.Version = 0xFEFF;
        Assert.Equal(70, FeedServerHello(c, sh).Alert);
    }

    [Fact]
    public void ServerHello_WithUnsolicitedExtension_UnsupportedExtension()
    {
        using var c = StartedClient();
        var sh = GoodServerHello();
        sh.Extensions.Add((16, [0, 3, 2, (byte)'h', (byte)'2'])); // ALPN was not offered
        Assert.Equal(110, FeedServerHello(c, sh).Alert);
    }

    [Fact]
    public void CertificateBeforeServerHello_UnexpectedMessage()
    {
        using var c = StartedClient();
        var body = CertificateMessage.Serialize([DtlsTestPair.ServerCert.RawData]);
        var ex = c.ReceiveExpectingFailure(DtlsBrowserHelloTests.Record(TlsHandshakeType.Certificate, 0, body, 0, body.Length, 0), TimeSpan.Zero);
        Assert.Equal(CryptoError.UnexpectedMessage, ex.Error);
        Assert.Equal(10, ex.Alert);
    }

    [Fact]
    public void ClientHello_WithForgedCookie_GetsAnotherHelloVerifyRequest_NotAServerHello()
    {
        using var server = new DtlsEndpoint(new DtlsOptions { Certificate = DtlsTestPair.ServerCert, AllowAnyPeerCertificate = true });
        var ch = ClientHello.Parse(DtlsBrowserHelloTests.ChromeLikeClientHelloBody());
        ch.Cookie = new byte[20];
        var body = ch.Serialize();
        server.Receive(DtlsBrowserHelloTests.Record(1, 1, body, 0, body.Length, 0x0000_0102_0304_0506), TimeSpan.Zero);
        var replies = new List<byte[]>();
        while (server.TryPollDatagram(out var d)) replies.Add(d.ToArray());
        // record header: handshake, DTLS 1.2, epoch 0, sequence number echoed from the ClientHello's record (RFC 6347 §4.2.1)
        Assert.Equal(Convert.FromHexString("16FEFD0000010203040506"), replies[0][..11]);
        var msgs = DtlsBrowserHelloTests.ReassembleFlight(replies);
        Assert.Equal(TlsHandshakeType.HelloVerifyRequest, Assert.Single(msgs).Type);
        var cookie = HelloVerifyRequest.Parse(msgs[0].Body).Cookie;
        Assert.NotEqual(new byte[20], cookie);

        // with the right cookie the server goes on (ServerHello first)
        ch.Cookie = cookie;
        body = ch.Serialize();
        server.Receive(DtlsBrowserHelloTests.Record(1, 2, body, 0, body.Length, 2), TimeSpan.Zero);
        replies.Clear();
        while (server.TryPollDatagram(out var d)) replies.Add(d.ToArray());
        Assert.Equal(TlsHandshakeType.ServerHello, DtlsBrowserHelloTests.ReassembleFlight(replies)[0].Type);
        Assert.NotNull(server.NextDeadline);

        // the server now waits for the client flight with its own flight armed for retransmission
        Assert.Equal(DtlsState.Connecting, server.State);
    }

    [Fact]
    public void Alert_UnauthenticatedFatalDuringHandshake_IsIgnored()
    {
        // RFC 6347 §4.1.2.7: an epoch-0 alert is unauthenticated; anyone can forge it (issue 9), so it changes nothing.
        using var c = StartedClient();
        while (c.TryPollEvent(out _)) { }
        for (int i = 0; i < 100; i++)
            c.Receive(Convert.FromHexString("15FEFD00000000000000000002" + "02" + "28"), TimeSpan.FromMilliseconds(i));
        c.Receive(Convert.FromHexString("15FEFD00000000000000000002" + "01" + "00"), TimeSpan.Zero); // close_notify too
        Assert.Equal(DtlsState.Connecting, c.State);
        Assert.Null(c.Error);
        Assert.False(c.TryPollDatagram(out _)); // no alert in answer
        Assert.False(c.TryPollEvent(out _));
        Assert.NotNull(c.NextDeadline); // still retransmitting its ClientHello
    }

    [Fact]
    public void Options_Validation()
    {
        Assert.Throws<CryptoException>(() => new DtlsEndpoint(new DtlsOptions()));
        Assert.Throws<CryptoException>(() => new DtlsEndpoint(new DtlsOptions { Certificate = DtlsTestPair.ServerCert, Mtu = 100 }));
        Assert.Throws<CryptoException>(() => new DtlsEndpoint(new DtlsOptions { Certificate = DtlsTestPair.ServerCert, CipherSuites = [] }));
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var req = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=rsa", rsa, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        using var rsaCert = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        Assert.Equal(CryptoError.InvalidState, Assert.Throws<CryptoException>(() => new DtlsEndpoint(new DtlsOptions { Certificate = rsaCert })).Error);
    }
}
