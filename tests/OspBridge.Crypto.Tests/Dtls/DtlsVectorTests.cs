using System.Security.Cryptography.X509Certificates;
using System.Security.Cryptography;
using OspBridge.Crypto.Dtls;
using OspBridge.Crypto.Dtls.Messages;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Crypto.Tests.Dtls;

public class DtlsVectorTests
{
    // The TLS 1.2 PRF test vectors published on the IETF TLS list (2009) and used by many implementations
    // (e.g. "TLS 1.2 PRF (SHA256)": secret 9bbe436b..., seed a0ba9f93..., label "test label", 100 bytes).
    // Both also reproduce with OpenSSL: `openssl kdf -keylen 100 -kdfopt digest:SHA256 -kdfopt hexsecret:... TLS1-PRF`.
    [Fact]
    public void Prf_Sha256_KnownVector()
    {
        var output = TlsPrf.Compute(HashAlgorithmName.SHA256, Convert.FromHexString("9bbe436ba940f017b17652849a71db35"), "test label",
            Convert.FromHexString("a0ba9f936cda311827a6f796ffd5198c"), 100);
        Assert.Equal(
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab" +
            "4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66", Convert.ToHexStringLower(output));
    }

    [Fact]
    public void Prf_Sha384_KnownVector()
    {
        var output = TlsPrf.Compute(HashAlgorithmName.SHA384, Convert.FromHexString("b80b733d6ceefcdc71566ea48e5567df"), "test label",
            Convert.FromHexString("cd665cf6a8447dd6ff8b27555edb7465"), 148);
        Assert.Equal(
            "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd" +
            "8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d9184259b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6" +
            "91c8f3a26854308d5eaa3be85e0990703d73e56f", Convert.ToHexStringLower(output));
    }

    [Fact]
    public void RecordHeader_GoldenBytes_RoundTrip()
    {
        // handshake record, DTLS 1.2, epoch 1, sequence 0x0000_0102_0304, length 0x50
        var golden = Convert.FromHexString("16FEFD00010000010203040050");
        var buf = new byte[13 + 0x50];
        golden.CopyTo(buf, 0);
        Assert.True(DtlsRecordHeader.TryRead(buf, out var h));
        Assert.Equal(new DtlsRecordHeader(22, 0xFEFD, 1, 0x01020304, 0x50), h);
        Assert.Equal(0x0001_0000_0102_0304UL, h.EpochAndSequence);
        var written = new byte[13];
        h.Write(written);
        Assert.Equal(golden, written);
        Assert.False(DtlsRecordHeader.TryRead(buf.AsSpan(0, 13 + 0x4F), out _)); // fragment truncated
        buf[0] = 24; // heartbeat / unknown content type
        Assert.False(DtlsRecordHeader.TryRead(buf, out _));
        buf[0] = 22; buf[1] = 0x03; // TLS, not DTLS
        Assert.False(DtlsRecordHeader.TryRead(buf, out _));
    }

    [Fact]
    public void HandshakeHeader_GoldenBytes_RoundTrip()
    {
        // ClientHello, length 0x0001B0, message_seq 1, fragment_offset 0x64, fragment_length 0x20
        var golden = Convert.FromHexString("010001B00001000064000020");
        var buf = new byte[12 + 0x20];
        golden.CopyTo(buf, 0);
        Assert.True(DtlsHandshakeHeader.TryRead(buf, out var h));
        Assert.Equal(new DtlsHandshakeHeader(1, 0x1B0, 1, 0x64, 0x20), h);
        var written = new byte[12];
        h.Write(written);
        Assert.Equal(golden, written);
        Assert.False(DtlsHandshakeHeader.TryRead(buf.AsSpan(0, 12 + 0x1F), out _));
        Convert.FromHexString("010000100001000008000010").CopyTo(buf, 0); // offset + length beyond message length
        Assert.False(DtlsHandshakeHeader.TryRead(buf, out _));
    }

    [Fact]
    public void HelloVerifyRequest_GoldenLayout()
    {
        // Our server's answer to a cookieless ClientHello: one record, one unfragmented HelloVerifyRequest with a 20-byte cookie.
        using var server = new DtlsEndpoint(new DtlsOptions { Certificate = DtlsTestPair.ServerCert, AllowAnyPeerCertificate = true });
        using var client = new DtlsEndpoint(new DtlsOptions { IsClient = true, Certificate = DtlsTestPair.ClientCert, AllowAnyPeerCertificate = true });
        client.Start(TimeSpan.Zero);
        Assert.True(client.TryPollDatagram(out var ch));
        Assert.Equal(Convert.FromHexString("16FEFD0000000000000000"), ch.Span[..11].ToArray()); // handshake, DTLS 1.2, epoch 0, seq 0
        Assert.Equal(Convert.FromHexString("01"), ch.Span[13..14].ToArray());
        server.Receive(ch.Span, TimeSpan.Zero);
        Assert.True(server.TryPollDatagram(out var hvr));
        var b = hvr.ToArray();
        Assert.Equal(13 + 12 + 3 + 20, b.Length);
        Assert.Equal(Convert.FromHexString("16FEFD000000000000000000" + "23" + "03000017" + "0000" + "000000" + "000017" + "FEFF" + "14"), b[..(13 + 12 + 3)]);
        Assert.False(server.TryPollDatagram(out _));
        Assert.Null(server.NextDeadline); // stateless: no timer, nothing kept
    }

    [Fact]
    public void AeadRecord_Layout_MatchesRfc5288()
    {
        var key = Convert.FromHexString("000102030405060708090a0b0c0d0e0f");
        var salt = Convert.FromHexString("a0a1a2a3");
        using var cipher = new DtlsAeadCipher(key, salt);
        var plain = "hello"u8.ToArray();
        var rec = new byte[plain.Length + DtlsAeadCipher.Overhead];
        ulong es = 0x0001_0000_0000_0007;
        cipher.Seal(es, 23, 0xFEFD, plain, rec);
        Assert.Equal(Convert.FromHexString("0001000000000007"), rec[..8]); // explicit nonce = epoch || seq
        // independent check with AesGcm: nonce = salt || explicit, aad = epoch||seq||type||version||length
        using var gcm = new AesGcm(key, 16);
        var dec = new byte[plain.Length];
        gcm.Decrypt(Convert.FromHexString("a0a1a2a30001000000000007"), rec.AsSpan(8, plain.Length), rec.AsSpan(8 + plain.Length, 16), dec,
            Convert.FromHexString("000100000000000717FEFD0005"));
        Assert.Equal(plain, dec);
        var back = new byte[rec.Length];
        Assert.True(cipher.TryOpen(es, 23, 0xFEFD, rec, back, out int n));
        Assert.Equal(plain, back[..n]);
        rec[^1] ^= 1;
        Assert.False(cipher.TryOpen(es, 23, 0xFEFD, rec, back, out _));
    }

    [Fact]
    public void ReplayWindow_SlidesOver64()
    {
        var w = new ReplayWindow();
        Assert.True(w.IsAcceptable(5));
        w.Accept(5);
        Assert.False(w.IsAcceptable(5));
        Assert.True(w.IsAcceptable(3));
        w.Accept(3);
        Assert.False(w.IsAcceptable(3));
        w.Accept(100);
        Assert.False(w.IsAcceptable(36)); // 100 - 64
        Assert.True(w.IsAcceptable(37));
        Assert.True(w.IsAcceptable(99));
        Assert.False(w.IsAcceptable(100));
        w.Accept(99);
        Assert.False(w.IsAcceptable(99));
        w.Accept(1000);
        Assert.True(w.IsAcceptable(999));
        Assert.False(w.IsAcceptable(100));
    }

    [Fact]
    public void Reassembler_OutOfOrderOverlappingFragments()
    {
        var r = new HandshakeReassembler();
        var body = new byte[300];
        new Random(7).NextBytes(body);
        void Add(int seq, int off, int len) =>
            Assert.Equal(HandshakeReassembler.AddResult.Buffered, r.Add(new DtlsHandshakeHeader(1, 300, (ushort)seq, off, len), body.AsSpan(off, len), 0));
        Add(1, 0, 0); // message 1: empty body would need length 0; here a zero-length fragment of a 300-byte message
        Add(0, 200, 100);
        Add(0, 50, 100);
        Assert.False(r.TryTakeNext(out _, out _, out _, out _));
        Add(0, 0, 60);
        Add(0, 140, 70);
        Assert.True(r.TryTakeNext(out var type, out var seq, out var got, out _));
        Assert.Equal((1, 0), (type, (int)seq));
        Assert.Equal(body, got);
        Assert.Equal(HandshakeReassembler.AddResult.Old, r.Add(new DtlsHandshakeHeader(1, 300, 0, 0, 10), body.AsSpan(0, 10), 0));
        Assert.Equal(HandshakeReassembler.AddResult.Dropped, r.Add(new DtlsHandshakeHeader(1, 300, 9, 0, 10), body.AsSpan(0, 10), 0)); // beyond window
        // a conflicting type for message 1 is kept as a separate candidate; it does not corrupt the real message
        Assert.Equal(HandshakeReassembler.AddResult.Buffered, r.Add(new DtlsHandshakeHeader(2, 300, 1, 0, 10), new byte[10], 0));
        Assert.Equal(HandshakeReassembler.AddResult.Dropped, r.Add(new DtlsHandshakeHeader(1, 64 * 1024, 2, 0, 10), body.AsSpan(0, 10), 0)); // too long
        Add(1, 0, 300);
        Assert.True(r.TryTakeNext(out type, out seq, out got, out _));
        Assert.Equal((1, 1), (type, (int)seq));
        Assert.Equal(body, got);
    }

    [Fact]
    public void Reassembler_SpoofedFirstFragmentWithOtherLength_DoesNotBlockTheRealMessage()
    {
        var r = new HandshakeReassembler();
        var body = new byte[300];
        new Random(8).NextBytes(body);
        // the attacker's fragment for message_seq 0 arrives first, claiming a 50-byte ClientHello
        Assert.Equal(HandshakeReassembler.AddResult.Buffered, r.Add(new DtlsHandshakeHeader(1, 50, 0, 0, 10), new byte[10], 0));
        Assert.Equal(HandshakeReassembler.AddResult.Buffered, r.Add(new DtlsHandshakeHeader(1, 300, 0, 0, 150), body.AsSpan(0, 150), 0));
        Assert.Equal(HandshakeReassembler.AddResult.Buffered, r.Add(new DtlsHandshakeHeader(1, 300, 0, 150, 150), body.AsSpan(150, 150), 0));
        Assert.True(r.TryTakeNext(out var type, out var seq, out var got, out _));
        Assert.Equal((1, 0), (type, (int)seq));
        Assert.Equal(body, got);
        Assert.False(r.TryTakeNext(out _, out _, out _, out _)); // the spoofed candidate went with it
    }

    [Fact]
    public void Reassembler_FloodOfBogusVariants_IsBounded_AndTheRealMessageSurvives()
    {
        var r = new HandshakeReassembler();
        var body = new byte[1000];
        new Random(9).NextBytes(body);
        Assert.Equal(HandshakeReassembler.AddResult.Buffered, r.Add(new DtlsHandshakeHeader(1, 1000, 0, 0, 500), body.AsSpan(0, 500), 0));
        for (int i = 0; i < 10_000; i++) // distinct bogus lengths, one byte each: at most MaxVariants candidates live
        {
            r.Add(new DtlsHandshakeHeader(1, 2000 + i, 0, 0, 1), new byte[1], 0);
            Assert.True(r.BufferedCandidates <= HandshakeReassembler.MaxVariants);
        }
        // What the reassembler holds after the flood: the real candidate plus at most MaxVariants - 1 bogus ones
        // (each at most 2000 + 9999 bytes). (A process-wide GC.GetTotalMemory check was flaky: other test classes
        // allocate in parallel.)
        Assert.True(r.BufferedBytes <= 1000 + (HandshakeReassembler.MaxVariants - 1) * 11_999L, $"{r.BufferedBytes} bytes buffered");
        Assert.Equal(HandshakeReassembler.AddResult.Buffered, r.Add(new DtlsHandshakeHeader(1, 1000, 0, 500, 500), body.AsSpan(500, 500), 0));
        Assert.True(r.TryTakeNext(out _, out _, out var got, out _));
        Assert.Equal(body, got);
    }

    [Fact]
    public void Fingerprint_FormatAndMatch()
    {
        var cert = DtlsTestPair.ServerCert;
        var fp = CertificateFingerprint.ToSdp(cert);
        Assert.StartsWith("sha-256 ", fp);
        Assert.Equal(8 + 32 * 3 - 1, fp.Length);
        Assert.Equal("sha-256 " + CertificateFingerprint.FormatHex(SHA256.HashData(cert.RawData)), fp);
        Assert.Matches("^sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$", fp);
        Assert.True(CertificateFingerprint.MatchesSdp(cert, fp));
        Assert.True(CertificateFingerprint.MatchesSdp(cert, fp.ToLowerInvariant().Replace("sha-256", "SHA-256")));
        Assert.True(CertificateFingerprint.MatchesSdp(cert, CertificateFingerprint.ToSdp(cert, "sha-384")));
        Assert.False(CertificateFingerprint.MatchesSdp(DtlsTestPair.ClientCert, fp));
        Assert.False(CertificateFingerprint.MatchesSdp(cert, fp[..^3]));
        Assert.False(CertificateFingerprint.MatchesSdp(cert, "md5 " + fp[8..]));
        Assert.False(CertificateFingerprint.MatchesSdp(cert, ""));
        using var key = cert.GetECDsaPrivateKey();
        Assert.Equal(256, key!.KeySize);
    }
}
