using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OspBridge.Crypto.Dtls;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Interop.Tests.Dtls;

/// <summary>
/// Our DTLS 1.2 endpoint against OpenSSL's independent implementation (s_server / s_client) over real UDP on
/// 127.0.0.1: handshake with mutual ECDSA P-256 certificates, use_srtp, data both ways, close_notify, and the
/// RFC 5764 SRTP keying material compared byte for byte.
/// </summary>
public sealed class OpenSslDtlsInteropTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan LossTimeout = TimeSpan.FromSeconds(90);
    private readonly ITestOutputHelper _log;
    private readonly string _dir;
    private readonly X509Certificate2 _ourCert = SelfSignedCertificate.Create("ospbridge");

    public OpenSslDtlsInteropTests(ITestOutputHelper log)
    {
        _log = log;
        _dir = Directory.CreateTempSubdirectory("dtls-interop-").FullName;
        File.WriteAllText(Path.Combine(_dir, "our-cert.pem"), _ourCert.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_dir, "our-key.pem"), _ourCert.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        // OpenSSL's own certificate, made by OpenSSL (ECDSA P-256, self-signed)
        using var req = new OpenSslProcess($"req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=openssl -days 2 -keyout {_dir}/ossl-key.pem -out {_dir}/ossl-cert.pem");
        Assert.True(req.WaitForExit(TimeSpan.FromSeconds(30)), "openssl req did not finish");
        Assert.True(File.Exists(Path.Combine(_dir, "ossl-cert.pem")), "openssl req failed: " + req.Output);
    }

    private string OpenSslFingerprint() =>
        CertificateFingerprint.ToSdp(X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(_dir, "ossl-cert.pem"))));

    public static TheoryData<string, string, DtlsCipherSuite, SrtpProtectionProfile, int> Suites => new()
    {
        { "ECDHE-ECDSA-AES128-GCM-SHA256", "SRTP_AEAD_AES_128_GCM", DtlsCipherSuite.EcdheEcdsaAes128GcmSha256, SrtpProtectionProfile.AeadAes128Gcm, 56 },
        { "ECDHE-ECDSA-AES256-GCM-SHA384", "SRTP_AES128_CM_SHA1_80", DtlsCipherSuite.EcdheEcdsaAes256GcmSha384, SrtpProtectionProfile.Aes128CmHmacSha1_80, 60 },
    };

    [Theory]
    [MemberData(nameof(Suites))]
    public void OurClient_OpenSslServer(string cipher, string srtp, DtlsCipherSuite suite, SrtpProtectionProfile profile, int keyLen) =>
        OurClient(cipher, srtp, suite, profile, keyLen, mtu: 0, loss: 0);

    /// <summary>Both sides fragment their flights (OpenSSL -mtu 300, ours 300) and we drop 25 % of datagrams both ways.</summary>
    [Fact]
    public void OurClient_OpenSslServer_SmallMtu_25PercentLoss() =>
        OurClient("ECDHE-ECDSA-AES128-GCM-SHA256", "SRTP_AEAD_AES_128_GCM", DtlsCipherSuite.EcdheEcdsaAes128GcmSha256, SrtpProtectionProfile.AeadAes128Gcm, 56, mtu: 300, loss: 0.25);

    private void OurClient(string cipher, string srtp, DtlsCipherSuite suite, SrtpProtectionProfile profile, int keyLen, int mtu, double loss)
    {
        int port = FreeUdpPort();
        using var server = new OpenSslProcess(
            $"s_server -dtls1_2 -accept 127.0.0.1:{port} -cert {_dir}/ossl-cert.pem -key {_dir}/ossl-key.pem -cipher {cipher} " +
            $"-use_srtp {srtp} -Verify 1 -CAfile {_dir}/our-cert.pem -keymatexport EXTRACTOR-dtls_srtp -keymatexportlen {keyLen} -naccept 1" +
            (mtu > 0 ? $" -mtu {mtu}" : ""));
        Assert.True(server.WaitForOutput("ACCEPT", Timeout), "s_server did not start: " + server.Output);

        using var ep = new DtlsEndpoint(new DtlsOptions { IsClient = true, Certificate = _ourCert, RemoteFingerprint = OpenSslFingerprint(), Mtu = mtu > 0 ? mtu : 1200 });
        using var pump = new DtlsUdpPump(ep, new IPEndPoint(IPAddress.Loopback, port)) { LossRate = loss };
        AssertHandshake(ep, pump, mtu, loss, suite, profile, server);

        ep.Send(Encoding.ASCII.GetBytes("hello from ospbridge\n"));
        pump.Flush();
        Assert.True(pump.RunUntil(() => server.Output.Contains("hello from ospbridge", StringComparison.Ordinal), Timeout), "s_server did not print our data:\n" + server.Output);

        server.WriteLine("hello from openssl");
        ReadOnlyMemory<byte> got = default;
        Assert.True(pump.RunUntil(() => ep.TryReadApplicationData(out got), Timeout), "no data from s_server");
        Assert.Equal("hello from openssl\n", Encoding.ASCII.GetString(got.Span));

        Assert.True(pump.RunUntil(() => server.Output.Contains("Keying material:", StringComparison.Ordinal), Timeout), server.Output);
        var theirs = server.KeyingMaterial();
        Assert.Equal(theirs, ep.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, keyLen));

        ep.Close();
        pump.Flush();
        Assert.True(server.WaitForExit(Timeout), "s_server did not end after close_notify:\n" + server.Output);
        _log.WriteLine(server.Output);
    }

    /// <summary>
    /// Runs the handshake with <paramref name="peer"/> until connected (longer under loss), logs the pump's counts,
    /// checks that the loss dropped datagrams and the small MTU made OpenSSL fragment, then stops the loss; the
    /// negotiated cipher suite and SRTP profile are the expected ones.
    /// </summary>
    private void AssertHandshake(DtlsEndpoint ep, DtlsUdpPump pump, int mtu, double loss, DtlsCipherSuite suite, SrtpProtectionProfile profile, OpenSslProcess peer)
    {
        Assert.True(pump.RunUntil(() => ep.State == DtlsState.Connected, loss > 0 ? LossTimeout : Timeout), $"handshake: {ep.State} {ep.Error?.Message}\n{peer.Output}");
        _log.WriteLine($"handshake done at {pump.Now}, dropped {pump.Dropped}, sent {pump.DatagramsSent}, received {pump.DatagramsReceived}");
        if (loss > 0) Assert.True(pump.Dropped > 0);
        if (mtu > 0) Assert.True(pump.PartialFragmentsReceived > 0, "OpenSSL did not fragment any handshake message");
        pump.LossRate = 0;
        Assert.Equal(suite, ep.CipherSuite);
        Assert.Equal(profile, ep.SelectedSrtpProfile);
    }

    [Theory]
    [MemberData(nameof(Suites))]
    public void OpenSslClient_OurServer(string cipher, string srtp, DtlsCipherSuite suite, SrtpProtectionProfile profile, int keyLen) =>
        OurServer(cipher, srtp, suite, profile, keyLen, mtu: 0, loss: 0);

    /// <summary>Both sides fragment their flights (OpenSSL -mtu 300, ours 300) and we drop 25 % of datagrams both ways.</summary>
    [Fact]
    public void OpenSslClient_OurServer_SmallMtu_25PercentLoss() =>
        OurServer("ECDHE-ECDSA-AES128-GCM-SHA256", "SRTP_AEAD_AES_128_GCM", DtlsCipherSuite.EcdheEcdsaAes128GcmSha256, SrtpProtectionProfile.AeadAes128Gcm, 56, mtu: 300, loss: 0.25);

    private void OurServer(string cipher, string srtp, DtlsCipherSuite suite, SrtpProtectionProfile profile, int keyLen, int mtu, double loss)
    {
        using var ep = new DtlsEndpoint(new DtlsOptions { IsClient = false, Certificate = _ourCert, RemoteFingerprint = OpenSslFingerprint(), Mtu = mtu > 0 ? mtu : 1200 });
        using var pump = new DtlsUdpPump(ep) { LossRate = loss };
        using var client = new OpenSslProcess(
            $"s_client -dtls1_2 -connect 127.0.0.1:{pump.LocalPort} -cert {_dir}/ossl-cert.pem -key {_dir}/ossl-key.pem -cipher {cipher} " +
            $"-use_srtp {srtp} -keymatexport EXTRACTOR-dtls_srtp -keymatexportlen {keyLen}" + (mtu > 0 ? $" -mtu {mtu}" : ""));
        AssertHandshake(ep, pump, mtu, loss, suite, profile, client);
        Assert.True(pump.RunUntil(() => client.Output.Contains("Keying material:", StringComparison.Ordinal), Timeout), client.Output);
        Assert.Equal(client.KeyingMaterial(), ep.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, keyLen));

        client.WriteLine("hello from openssl");
        ReadOnlyMemory<byte> got = default;
        Assert.True(pump.RunUntil(() => ep.TryReadApplicationData(out got), Timeout), "no data from s_client:\n" + client.Output);
        Assert.Equal("hello from openssl\n", Encoding.ASCII.GetString(got.Span));

        ep.Send(Encoding.ASCII.GetBytes("hello from ospbridge\n"));
        pump.Flush();
        Assert.True(pump.RunUntil(() => client.Output.Contains("hello from ospbridge", StringComparison.Ordinal), Timeout), "s_client did not print our data:\n" + client.Output);

        // s_client sends close_notify when its stdin ends
        client.CloseInput();
        Assert.True(pump.RunUntil(() => ep.State == DtlsState.Closed, Timeout), $"no close_notify: {ep.State}\n{client.Output}");
        _log.WriteLine(client.Output);
    }

    /// <summary>OpenSSL as client with an RSA-2048 certificate: our server verifies RSA-PSS and RSA PKCS#1 CertificateVerify.</summary>
    [Theory]
    [InlineData("RSA-PSS+SHA256", 0x0804)]
    [InlineData("RSA+SHA256", 0x0401)]
    [InlineData("RSA+SHA384", 0x0501)]
    public void OpenSslClientWithRsaCertificate_OurServer(string clientSigalg, int scheme)
    {
        using (var req = new OpenSslProcess($"req -x509 -newkey rsa:2048 -nodes -subj /CN=openssl-rsa -days 2 -keyout {_dir}/rsa-key.pem -out {_dir}/rsa-cert.pem"))
            Assert.True(req.WaitForExit(TimeSpan.FromSeconds(60)) && File.Exists(Path.Combine(_dir, "rsa-cert.pem")), "openssl req (RSA) failed: " + req.Output);
        var rsaCert = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(_dir, "rsa-cert.pem")));
        using var ep = new DtlsEndpoint(new DtlsOptions { Certificate = _ourCert, RemoteFingerprint = CertificateFingerprint.ToSdp(rsaCert) });
        using var pump = new DtlsUdpPump(ep);
        using var client = new OpenSslProcess(
            $"s_client -dtls1_2 -connect 127.0.0.1:{pump.LocalPort} -cert {_dir}/rsa-cert.pem -key {_dir}/rsa-key.pem " +
            $"-cipher ECDHE-ECDSA-AES128-GCM-SHA256 -client_sigalgs {clientSigalg} -use_srtp SRTP_AEAD_AES_128_GCM -keymatexport EXTRACTOR-dtls_srtp -keymatexportlen 56");
        Assert.True(pump.RunUntil(() => ep.State == DtlsState.Connected, Timeout), $"handshake: {ep.State} {ep.Error?.Message}\n{client.Output}");
        Assert.Equal(rsaCert.RawData, ep.PeerCertificate!.RawData);
        Assert.Equal(scheme, ep.PeerSignatureScheme);
        Assert.True(pump.RunUntil(() => client.Output.Contains("Keying material:", StringComparison.Ordinal), Timeout), client.Output);
        Assert.Equal(client.KeyingMaterial(), ep.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, 56));
    }

    private static int FreeUdpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    public void Dispose()
    {
        _ourCert.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
