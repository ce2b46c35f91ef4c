using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Dtls.Messages;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Crypto.Dtls;

public sealed partial class DtlsEndpoint
{
    private enum Hs
    {
        None,
        ClientWaitHello,          // ServerHello or HelloVerifyRequest
        ClientWaitCertificate,
        ClientWaitKeyExchange,
        ClientWaitCertRequestOrDone,
        ClientWaitHelloDone,
        ClientWaitFinished,
        ServerWaitClientHello,
        ServerWaitCertificate,
        ServerWaitKeyExchange,
        ServerWaitCertificateVerify,
        ServerWaitFinished,
        Done,
    }

    private readonly record struct FlightItem(bool IsChangeCipherSpec, byte Type, ushort Seq, byte[] Body, ushort Epoch);

    private Hs _hs;
    private readonly HandshakeReassembler _reasm = new();
    private ushort _sendSeq;
    private TlsWriter _transcript = new(4096);
    private byte[] _clientRandom = new byte[32];
    private byte[] _serverRandom = new byte[32];
    private HashAlgorithmName _prfHash = HashAlgorithmName.SHA256;
    private ECDiffieHellman? _ecdh;
    private readonly ECDsa _signingKey;
    private byte[]? _masterSecret;
    private readonly byte[] _cookieSecret;

    // flights and retransmission (RFC 6347 §4.2.4)
    private readonly List<FlightItem> _flight = [];
    private TimeSpan? _retransmitAt;
    private TimeSpan _rto;
    private int _retransmits;
    private TimeSpan _lastTransmit = TimeSpan.MinValue;

    private static CryptoException Unexpected(string what) =>
        new(CryptoError.UnexpectedMessage, "DTLS: unexpected " + what, TlsAlert.UnexpectedMessage);

    private void HandleFragment(in DtlsHandshakeHeader h, ReadOnlySpan<byte> fragment, ushort epoch, TimeSpan now)
    {
        if (State == DtlsState.Connected)
        {
            // After the handshake only retransmission requests matter: the client re-sending its last flight means our
            // final flight (server: CCS + Finished) was lost. HelloRequest / renegotiation are ignored.
            if (h.MessageSeq < _reasm.NextSeq) MaybeRetransmit(now);
            return;
        }
        if (_hs == Hs.ServerWaitClientHello)
        {
            if (h.MessageType != TlsHandshakeType.ClientHello || epoch != 0) return;
            // Stateless cookie exchange: a ClientHello may come with any message_seq (0, or 1 after our HelloVerifyRequest).
            if (h.MessageSeq != _reasm.NextSeq) _reasm.Reset(h.MessageSeq);
        }
        if (_reasm.Add(h, fragment, epoch) == HandshakeReassembler.AddResult.Old) MaybeRetransmit(now);
    }

    private void DrainHandshake(TimeSpan now)
    {
        while (State == DtlsState.Connecting && _reasm.TryTakeNext(out byte type, out ushort seq, out byte[] body, out ushort epoch))
        {
            if (type == TlsHandshakeType.Finished ? epoch != 1 : epoch != 0)
                throw Unexpected($"handshake message {type} in epoch {epoch}");
            if (IsClient) ClientHandle(type, seq, body, now);
            else ServerHandle(type, seq, body, now);
        }
    }

    /// <summary>The peer re-sent part of an earlier flight: ours was (partly) lost, so send it again (throttled).</summary>
    private void MaybeRetransmit(TimeSpan now)
    {
        if (_flight.Count == 0) return;
        var throttle = TimeSpan.FromTicks(Math.Min(TimeSpan.FromMilliseconds(100).Ticks, _opt.InitialRetransmitTimeout.Ticks / 2));
        if (_lastTransmit != TimeSpan.MinValue && now - _lastTransmit < throttle) return;
        TransmitFlight(now);
        if (_retransmitAt is not null) _retransmitAt = now + _rto;
    }

    // ---- transcript ------------------------------------------------------------------------------------------

    private void AddToTranscript(byte type, ushort seq, ReadOnlySpan<byte> body)
    {
        Span<byte> hdr = stackalloc byte[DtlsHandshakeHeader.Size];
        new DtlsHandshakeHeader(type, body.Length, seq, 0, body.Length).Write(hdr);
        _transcript.WriteBytes(hdr);
        _transcript.WriteBytes(body);
    }

    private byte[] TranscriptHash() =>
        _prfHash == HashAlgorithmName.SHA384 ? SHA384.HashData(_transcript.Written) : SHA256.HashData(_transcript.Written);

    // ---- flights ---------------------------------------------------------------------------------------------

    private void BeginFlight()
    {
        _flight.Clear();
        _retransmits = 0;
        _rto = _opt.InitialRetransmitTimeout;
    }

    private void QueueHandshake(byte type, byte[] body, ushort epoch = 0)
    {
        ushort seq = _sendSeq++;
        AddToTranscript(type, seq, body);
        _flight.Add(new FlightItem(false, type, seq, body, epoch));
    }

    private void QueueChangeCipherSpec()
    {
        _flight.Add(new FlightItem(true, 0, 0, [], 0));
        _writeEpoch = 1;
    }

    /// <summary>Sends the current flight, packing records into datagrams of at most <see cref="DtlsOptions.Mtu"/> bytes.</summary>
    private void TransmitFlight(TimeSpan now)
    {
        _lastTransmit = now;
        int mtu = _opt.Mtu;
        var dg = new byte[mtu];
        int used = 0;
        var plain = new byte[mtu];
        foreach (var item in _flight)
        {
            int overheadRecord = DtlsRecordHeader.Size + (item.Epoch > 0 ? DtlsAeadCipher.Overhead : 0);
            if (item.IsChangeCipherSpec)
            {
                if (mtu - used < overheadRecord + 1) Flush(dg, ref used);
                used += WriteRecord(dg.AsSpan(used), TlsContentType.ChangeCipherSpec, 0, [1]);
                continue;
            }
            int offset = 0;
            while (true)
            {
                int room = mtu - used - overheadRecord - DtlsHandshakeHeader.Size;
                int remaining = item.Body.Length - offset;
                if (room < 0 || room < Math.Min(remaining, 64))
                {
                    Flush(dg, ref used); // an empty datagram always has room (MTU >= 256)
                    continue;
                }
                int take = Math.Min(room, remaining);
                new DtlsHandshakeHeader(item.Type, item.Body.Length, item.Seq, offset, take).Write(plain);
                item.Body.AsSpan(offset, take).CopyTo(plain.AsSpan(DtlsHandshakeHeader.Size));
                used += WriteRecord(dg.AsSpan(used), TlsContentType.Handshake, item.Epoch, plain.AsSpan(0, DtlsHandshakeHeader.Size + take));
                offset += take;
                if (offset >= item.Body.Length) break;
            }
        }
        Flush(dg, ref used);
    }

    private void Flush(byte[] dg, ref int used)
    {
        if (used == 0) return;
        _out.Enqueue(dg.AsSpan(0, used).ToArray());
        used = 0;
    }

    private void SendFlight(TimeSpan now, bool armTimer)
    {
        TransmitFlight(now);
        _retransmitAt = armTimer ? now + _rto : null;
    }

    // ---- key schedule ----------------------------------------------------------------------------------------

    private void SetCipherSuite(ushort suite)
    {
        CipherSuite = (DtlsCipherSuite)suite;
        _prfHash = suite == (ushort)DtlsCipherSuite.EcdheEcdsaAes256GcmSha384 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;
    }

    private static byte[] EncodePoint(ECDiffieHellman ecdh)
    {
        var p = ecdh.ExportParameters(false);
        var point = new byte[65];
        point[0] = 4;
        p.Q.X!.CopyTo(point, 1);
        p.Q.Y!.CopyTo(point, 33);
        return point;
    }

    private byte[] ComputePreMasterSecret(ReadOnlySpan<byte> peerPoint)
    {
        if (peerPoint.Length != 65 || peerPoint[0] != 4)
            throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: peer ECDH point is not an uncompressed P-256 point", TlsAlert.IllegalParameter);
        try
        {
            using var peer = ECDiffieHellman.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint { X = peerPoint.Slice(1, 32).ToArray(), Y = peerPoint.Slice(33, 32).ToArray() },
            });
            return _ecdh!.DeriveRawSecretAgreement(peer.PublicKey);
        }
        catch (CryptographicException ex)
        {
            throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: invalid peer ECDH point", TlsAlert.IllegalParameter, ex);
        }
    }

    /// <summary>Extended master secret (RFC 7627 §4): PRF(pms, "extended master secret", Hash(handshake through ClientKeyExchange)).</summary>
    private void DeriveMasterSecret(byte[] preMaster)
    {
        _masterSecret = TlsPrf.Compute(_prfHash, preMaster, "extended master secret", TranscriptHash(), 48);
        CryptographicOperations.ZeroMemory(preMaster);
    }

    /// <summary>key_block = PRF(master, "key expansion", server_random || client_random): client key, server key, client IV, server IV.</summary>
    private void DeriveTrafficKeys()
    {
        int keyLen = CipherSuite == DtlsCipherSuite.EcdheEcdsaAes256GcmSha384 ? 32 : 16;
        var seed = new byte[64];
        _serverRandom.CopyTo(seed, 0);
        _clientRandom.CopyTo(seed, 32);
        var kb = TlsPrf.Compute(_prfHash, _masterSecret!, "key expansion", seed, 2 * keyLen + 8);
        var clientKey = kb.AsSpan(0, keyLen);
        var serverKey = kb.AsSpan(keyLen, keyLen);
        var clientIv = kb.AsSpan(2 * keyLen, 4);
        var serverIv = kb.AsSpan(2 * keyLen + 4, 4);
        _writeCipher = IsClient ? new DtlsAeadCipher(clientKey, clientIv) : new DtlsAeadCipher(serverKey, serverIv);
        _readCipher = IsClient ? new DtlsAeadCipher(serverKey, serverIv) : new DtlsAeadCipher(clientKey, clientIv);
        CryptographicOperations.ZeroMemory(kb);
    }

    private byte[] FinishedVerifyData(bool fromClient) =>
        TlsPrf.Compute(_prfHash, _masterSecret!, fromClient ? "client finished" : "server finished", TranscriptHash(), 12);

    private void CheckFinished(byte[] body, bool fromClient)
    {
        var expected = FinishedVerifyData(fromClient);
        if (body.Length != 12 || !CryptographicOperations.FixedTimeEquals(body, expected))
            throw new CryptoException(CryptoError.DecryptError, "DTLS: Finished verify_data mismatch", TlsAlert.DecryptError);
    }

    // ---- certificates and signatures -------------------------------------------------------------------------

    private byte[] Sign(ReadOnlySpan<byte> data) =>
        _signingKey.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    internal static bool VerifySignature(X509Certificate2 cert, ushort scheme, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        try
        {
            switch (scheme)
            {
                case SignatureScheme.EcdsaSecp256r1Sha256:
                case SignatureScheme.EcdsaSecp384r1Sha384:
                case SignatureScheme.EcdsaSecp521r1Sha512:
                {
                    using var ec = cert.GetECDsaPublicKey();
                    return ec is not null && ec.VerifyData(data, signature, HashOf(scheme), DSASignatureFormat.Rfc3279DerSequence);
                }
                case SignatureScheme.RsaPkcs1Sha256:
                case SignatureScheme.RsaPkcs1Sha384:
                case SignatureScheme.RsaPkcs1Sha512:
                {
                    using var rsa = cert.GetRSAPublicKey();
                    return rsa is not null && rsa.VerifyData(data, signature, HashOf(scheme), RSASignaturePadding.Pkcs1);
                }
                case SignatureScheme.RsaPssRsaeSha256:
                case SignatureScheme.RsaPssRsaeSha384:
                case SignatureScheme.RsaPssRsaeSha512:
                {
                    using var rsa = cert.GetRSAPublicKey();
                    return rsa is not null && rsa.VerifyData(data, signature, HashOf(scheme), RSASignaturePadding.Pss);
                }
                default:
                    return false;
            }
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static HashAlgorithmName HashOf(ushort scheme) => (scheme >> 8) switch
    {
        0x05 => HashAlgorithmName.SHA384,
        0x06 => HashAlgorithmName.SHA512,
        _ => (scheme & 0xFF) switch { 0x05 => HashAlgorithmName.SHA384, 0x06 => HashAlgorithmName.SHA512, _ => HashAlgorithmName.SHA256 },
    };

    /// <summary>Loads and checks the peer's certificate chain (leaf first) against the fingerprint / callback.</summary>
    private X509Certificate2 AcceptPeerCertificate(List<byte[]> chain)
    {
        if (chain.Count == 0)
            throw new CryptoException(CryptoError.BadCertificate, "DTLS: peer sent no certificate", TlsAlert.HandshakeFailure);
        X509Certificate2 leaf;
        try
        {
            leaf = X509CertificateLoader.LoadCertificate(chain[0]);
        }
        catch (CryptographicException ex)
        {
            throw new CryptoException(CryptoError.BadCertificate, "DTLS: peer certificate does not parse", TlsAlert.BadCertificate, ex);
        }
        bool configured = false, ok = true;
        if (_opt.ValidatePeerCertificate is { } validate)
        {
            configured = true;
            try { ok &= validate(leaf); }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                ok = false;
            }
        }
        if (_opt.RemoteFingerprint is { } fp)
        {
            configured = true;
            ok &= CertificateFingerprint.MatchesSdp(leaf, fp);
        }
        if (!configured) ok = _opt.AllowAnyPeerCertificate;
        if (!ok)
        {
            leaf.Dispose();
            throw new CryptoException(CryptoError.BadCertificate, "DTLS: peer certificate rejected (fingerprint mismatch)", TlsAlert.BadCertificate);
        }
        return leaf;
    }

    private static bool Contains(IReadOnlyList<ushort> list, ushort v)
    {
        foreach (var x in list) if (x == v) return true;
        return false;
    }
}
