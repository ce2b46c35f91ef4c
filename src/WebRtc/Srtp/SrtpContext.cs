using System.Buffers.Binary;
using System.Security.Cryptography;
using OspBridge.Crypto.Aead;
using OspBridge.Crypto.Dtls;

namespace OspBridge.WebRtc.Srtp;

/// <summary>
/// SRTP/SRTCP protection for one direction (RFC 3711), with the transforms of the DTLS-SRTP profiles we offer:
/// <c>AES_CM_128_HMAC_SHA1_80</c> (and <c>_32</c>) — AES counter mode from the BCL's AES-ECB, HMAC-SHA1 from the BCL —
/// and <c>AEAD_AES_128_GCM</c>/<c>AEAD_AES_256_GCM</c> (RFC 7714, the project's one <see cref="AesGcmCipher"/>: libcrypto, BCL fallback). Session keys come
/// from the master key and salt through the RFC 3711 §4.3 KDF. Per SSRC it keeps the rollover counter (estimated
/// as in RFC 3711 Appendix A), a 1024-packet replay window for SRTP and SRTCP, and the next SRTCP index.
/// All operations work in place on the caller's buffer and allocate nothing per packet.
/// </summary>
/// <remarks>Not thread-safe: one serialized loop owns a context (as every core). At most <see cref="MaxSources"/>
/// SSRCs are tracked; packets of further sources are refused.</remarks>
public sealed class SrtpContext : IDisposable
{
    /// <summary>Maximum number of SSRCs tracked per context.</summary>
    public const int MaxSources = 256;

    private readonly Aes? _rtpAes;
    private readonly Aes? _rtcpAes;
    private readonly IncrementalHash? _rtpHmac;
    private readonly IncrementalHash? _rtcpHmac;
    private readonly AesGcmCipher? _rtpGcm;
    private readonly AesGcmCipher? _rtcpGcm;
    private readonly byte[] _rtpSalt;
    private readonly byte[] _rtcpSalt;
    private readonly byte[] _scratch = new byte[2 * AesCounterMode.ChunkBlocks * 16];
    private readonly Dictionary<uint, Source> _sources = [];

    private sealed class Source
    {
        public uint Roc;
        public ushort HighestSequence;
        public bool Started;
        public SrtpReplayWindow? RtpWindow;
        public SrtpReplayWindow? RtcpWindow;
        public uint NextRtcpIndex;
    }

    /// <summary>Creates a context from a master key and salt.</summary>
    /// <exception cref="WebRtcException">Unknown profile or wrong key/salt length (<see cref="WebRtcError.InvalidArgument"/>).</exception>
    public SrtpContext(SrtpProtectionProfile profile, ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> masterSalt)
        : this(profile, Derive(profile, masterKey, masterSalt))
    {
    }

    private SrtpContext(SrtpProtectionProfile profile, SessionKeys k)
    {
        Profile = profile;
        _rtpSalt = k.RtpSalt;
        _rtcpSalt = k.RtcpSalt;
        if (IsAead)
        {
            _rtpGcm = new AesGcmCipher(k.RtpKey);
            _rtcpGcm = new AesGcmCipher(k.RtcpKey);
            RtpTagLength = 16;
            RtcpTagLength = 16;
        }
        else
        {
            _rtpAes = Aes.Create();
            _rtpAes.Key = k.RtpKey;
            _rtcpAes = Aes.Create();
            _rtcpAes.Key = k.RtcpKey;
#pragma warning disable CA5350 // HMAC-SHA1 is what RFC 3711 and the AES_CM_128_HMAC_SHA1 profiles mandate
            _rtpHmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA1, k.RtpAuth);
            _rtcpHmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA1, k.RtcpAuth);
#pragma warning restore CA5350
            RtpTagLength = profile == SrtpProtectionProfile.Aes128CmHmacSha1_32 ? 4 : 10;
            RtcpTagLength = 10;
        }
    }

    /// <summary>The protection profile.</summary>
    public SrtpProtectionProfile Profile { get; }

    /// <summary>Octets SRTP adds to an RTP packet (the authentication tag).</summary>
    public int RtpTagLength { get; }

    /// <summary>Authentication tag length of SRTCP.</summary>
    public int RtcpTagLength { get; }

    /// <summary>Octets SRTCP adds to an RTCP packet (tag + 4-octet E‖index).</summary>
    public int RtcpOverhead => RtcpTagLength + 4;

    /// <summary>Packets refused because authentication failed.</summary>
    public long AuthenticationFailures { get; private set; }

    /// <summary>Packets refused as replays (or too old for the window).</summary>
    public long ReplaysRejected { get; private set; }

    private bool IsAead => Profile is SrtpProtectionProfile.AeadAes128Gcm or SrtpProtectionProfile.AeadAes256Gcm;

    /// <summary>Creates the outbound (local keys) and inbound (remote keys) contexts of a DTLS-SRTP association.</summary>
    public static (SrtpContext Outbound, SrtpContext Inbound) Create(SrtpKeyingMaterial keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        return (new SrtpContext(keys.Profile, keys.LocalMasterKey, keys.LocalMasterSalt),
                new SrtpContext(keys.Profile, keys.RemoteMasterKey, keys.RemoteMasterSalt));
    }

    internal sealed record SessionKeys(byte[] RtpKey, byte[] RtpSalt, byte[] RtpAuth, byte[] RtcpKey, byte[] RtcpSalt, byte[] RtcpAuth);

    /// <summary>A context with session keys given directly (the RFC 7714 §16/§17 vectors are stated that way).</summary>
    internal static SrtpContext FromSessionKeys(SrtpProtectionProfile profile, SessionKeys keys) => new(profile, keys);

    private static SessionKeys Derive(SrtpProtectionProfile profile, ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> masterSalt)
    {
        (int keyLength, int saltLength) = profile switch
        {
            SrtpProtectionProfile.Aes128CmHmacSha1_80 or SrtpProtectionProfile.Aes128CmHmacSha1_32 => (16, 14),
            SrtpProtectionProfile.AeadAes128Gcm => (16, 12),
            SrtpProtectionProfile.AeadAes256Gcm => (32, 12),
            _ => throw new WebRtcException(WebRtcError.InvalidArgument, $"unsupported SRTP profile {(ushort)profile:X4}"),
        };
        if (masterKey.Length != keyLength || masterSalt.Length != saltLength)
            throw new WebRtcException(WebRtcError.InvalidArgument, $"SRTP profile {profile} needs a {keyLength}-octet key and {saltLength}-octet salt");
        int authLength = saltLength == 14 ? 20 : 0;
        byte[] key = masterKey.ToArray(), salt = masterSalt.ToArray();
        byte[] D(byte label, int n)
        {
            var o = new byte[n];
            SrtpKeyDerivation.Derive(key, salt, label, o);
            return o;
        }
        return new SessionKeys(
            D(SrtpKeyDerivation.RtpEncryption, keyLength), D(SrtpKeyDerivation.RtpSalt, saltLength), D(SrtpKeyDerivation.RtpAuthentication, authLength),
            D(SrtpKeyDerivation.RtcpEncryption, keyLength), D(SrtpKeyDerivation.RtcpSalt, saltLength), D(SrtpKeyDerivation.RtcpAuthentication, authLength));
    }

    /// <summary>Header length (fixed + CSRCs + extension) of an RTP packet, ignoring padding (which is encrypted).</summary>
    private static int RtpHeaderLength(ReadOnlySpan<byte> p)
    {
        if (p.Length < 12 || (p[0] >> 6) != 2)
            return -1;
        int at = 12 + 4 * (p[0] & 0x0f);
        if ((p[0] & 0x10) != 0)
        {
            if (p.Length < at + 4)
                return -1;
            at += 4 + 4 * BinaryPrimitives.ReadUInt16BigEndian(p.Slice(at + 2));
        }
        return at <= p.Length ? at : -1;
    }

    /// <summary>RFC 3711 Appendix A: the ROC a received sequence number most likely belongs to.</summary>
    internal static uint EstimateRoc(uint roc, ushort highest, ushort seq)
    {
        if (highest < 32768)
            return seq - highest > 32768 && roc > 0 ? roc - 1 : roc;
        return highest - 32768 > seq ? roc + 1 : roc;
    }

    private static void Advance(Source s, uint v, ushort seq)
    {
        if (!s.Started)
        {
            s.Started = true;
            s.Roc = v;
            s.HighestSequence = seq;
        }
        else if (v > s.Roc || (v == s.Roc && seq > s.HighestSequence))
        {
            s.Roc = v;
            s.HighestSequence = seq;
        }
    }

    private Source? GetOrAdd(uint ssrc)
    {
        if (_sources.TryGetValue(ssrc, out var s))
            return s;
        if (_sources.Count >= MaxSources)
            return null;
        s = new Source();
        _sources.Add(ssrc, s);
        return s;
    }

    /// <summary>
    /// Protects the RTP packet in <c>buffer[..length]</c> in place and appends the tag; <paramref name="buffer"/> needs
    /// <see cref="RtpTagLength"/> spare octets. Returns false for a malformed packet, a full buffer or too many sources.
    /// </summary>
    public bool TryProtectRtp(Span<byte> buffer, int length, out int written)
    {
        written = 0;
        var packet = buffer[..length];
        int hl = RtpHeaderLength(packet);
        if (hl < 0 || buffer.Length < length + RtpTagLength)
            return false;
        uint ssrc = BinaryPrimitives.ReadUInt32BigEndian(packet.Slice(8));
        ushort seq = BinaryPrimitives.ReadUInt16BigEndian(packet.Slice(2));
        var s = GetOrAdd(ssrc);
        if (s is null)
            return false;
        uint v = s.Started ? EstimateRoc(s.Roc, s.HighestSequence, seq) : 0;
        Advance(s, v, seq);
        if (_rtpGcm is not null)
        {
            Span<byte> iv = stackalloc byte[12];
            GcmRtpIv(iv, ssrc, v, seq);
            var payload = buffer[hl..length];
            _rtpGcm.Encrypt(iv, payload, payload, buffer.Slice(length, 16), buffer[..hl]);
        }
        else
        {
            Span<byte> iv = stackalloc byte[16];
            CmIv(iv, _rtpSalt, ssrc, ((ulong)v << 16) | seq);
            AesCounterMode.Xor(_rtpAes!, iv, buffer[hl..length], _scratch);
            RtpTag(buffer[..length], v, buffer.Slice(length, RtpTagLength));
        }
        written = length + RtpTagLength;
        return true;
    }

    /// <summary>
    /// Authenticates and decrypts the SRTP packet in <paramref name="packet"/> in place. Returns false (and counts it)
    /// when it is malformed, fails authentication, or is a replay; <paramref name="length"/> is then 0.
    /// </summary>
    public bool TryUnprotectRtp(Span<byte> packet, out int length)
    {
        length = 0;
        if (packet.Length < 12 + RtpTagLength)
            return false;
        int end = packet.Length - RtpTagLength;
        int hl = RtpHeaderLength(packet[..end]);
        if (hl < 0)
            return false;
        uint ssrc = BinaryPrimitives.ReadUInt32BigEndian(packet.Slice(8));
        ushort seq = BinaryPrimitives.ReadUInt16BigEndian(packet.Slice(2));
        _sources.TryGetValue(ssrc, out var s);
        if (s is null && _sources.Count >= MaxSources)
            return false;
        uint v = s is { Started: true } ? EstimateRoc(s.Roc, s.HighestSequence, seq) : 0;
        long index = ((long)v << 16) | seq;
        if (s?.RtpWindow is { } w && !w.Check(index))
        {
            ReplaysRejected++;
            return false;
        }
        if (_rtpGcm is not null)
        {
            Span<byte> iv = stackalloc byte[12];
            GcmRtpIv(iv, ssrc, v, seq);
            var payload = packet[hl..end];
            if (!_rtpGcm.TryDecrypt(iv, payload, packet.Slice(end, 16), payload, packet[..hl]))
            {
                AuthenticationFailures++;
                return false;
            }
        }
        else
        {
            Span<byte> tag = stackalloc byte[20];
            RtpTag(packet[..end], v, tag[..RtpTagLength]);
            if (!CryptographicOperations.FixedTimeEquals(tag[..RtpTagLength], packet.Slice(end, RtpTagLength)))
            {
                AuthenticationFailures++;
                return false;
            }
            Span<byte> iv = stackalloc byte[16];
            CmIv(iv, _rtpSalt, ssrc, (ulong)index);
            AesCounterMode.Xor(_rtpAes!, iv, packet[hl..end], _scratch);
        }
        s ??= GetOrAdd(ssrc)!;
        Advance(s, v, seq);
        (s.RtpWindow ??= new SrtpReplayWindow()).Mark(index);
        length = end;
        return true;
    }

    /// <summary>
    /// Protects the RTCP (compound) packet in <c>buffer[..length]</c> in place, appending E‖SRTCP index and the tag;
    /// <paramref name="buffer"/> needs <see cref="RtcpOverhead"/> spare octets.
    /// </summary>
    public bool TryProtectRtcp(Span<byte> buffer, int length, out int written) => TryProtectRtcp(buffer, length, true, out written);

    internal bool TryProtectRtcp(Span<byte> buffer, int length, bool encrypt, out int written)
    {
        written = 0;
        if (length < 8 || (buffer[0] >> 6) != 2 || buffer.Length < length + RtcpOverhead)
            return false;
        uint ssrc = BinaryPrimitives.ReadUInt32BigEndian(buffer.Slice(4));
        var s = GetOrAdd(ssrc);
        if (s is null)
            return false;
        uint index = s.NextRtcpIndex & 0x7fffffff;
        s.NextRtcpIndex = (index + 1) & 0x7fffffff;
        uint eIndex = (encrypt ? 0x80000000u : 0) | index;
        if (_rtcpGcm is not null)
        {
            Span<byte> iv = stackalloc byte[12];
            GcmRtcpIv(iv, ssrc, index);
            BinaryPrimitives.WriteUInt32BigEndian(buffer.Slice(length + 16), eIndex);
            if (encrypt)
            {
                Span<byte> aad = stackalloc byte[12];
                buffer[..8].CopyTo(aad);
                BinaryPrimitives.WriteUInt32BigEndian(aad.Slice(8), eIndex);
                var payload = buffer[8..length];
                _rtcpGcm.Encrypt(iv, payload, payload, buffer.Slice(length, 16), aad);
            }
            else
            {
                if (length + 4 > _scratch.Length)
                    return false;
                buffer[..length].CopyTo(_scratch);
                BinaryPrimitives.WriteUInt32BigEndian(_scratch.AsSpan(length), eIndex);
                _rtcpGcm.Encrypt(iv, default, default, buffer.Slice(length, 16), _scratch.AsSpan(0, length + 4));
            }
            written = length + 20;
            return true;
        }
        if (encrypt)
        {
            Span<byte> iv = stackalloc byte[16];
            CmIv(iv, _rtcpSalt, ssrc, (ulong)index << 0);
            AesCounterMode.Xor(_rtcpAes!, iv, buffer[8..length], _scratch);
        }
        BinaryPrimitives.WriteUInt32BigEndian(buffer.Slice(length), eIndex);
        RtcpTag(buffer[..(length + 4)], buffer.Slice(length + 4, RtcpTagLength));
        written = length + 4 + RtcpTagLength;
        return true;
    }

    /// <summary>Authenticates and (when the E bit is set) decrypts the SRTCP packet in place; false when malformed, forged or replayed.</summary>
    public bool TryUnprotectRtcp(Span<byte> packet, out int length)
    {
        length = 0;
        if (packet.Length < 8 + RtcpOverhead || (packet[0] >> 6) != 2)
            return false;
        uint ssrc = BinaryPrimitives.ReadUInt32BigEndian(packet.Slice(4));
        _sources.TryGetValue(ssrc, out var s);
        if (s is null && _sources.Count >= MaxSources)
            return false;
        int end;
        uint eIndex;
        if (_rtcpGcm is not null)
        {
            end = packet.Length - 20;
            eIndex = BinaryPrimitives.ReadUInt32BigEndian(packet.Slice(packet.Length - 4));
        }
        else
        {
            end = packet.Length - 4 - RtcpTagLength;
            eIndex = BinaryPrimitives.ReadUInt32BigEndian(packet.Slice(end));
        }
        uint index = eIndex & 0x7fffffff;
        bool encrypted = (eIndex & 0x80000000) != 0;
        if (s?.RtcpWindow is { } w && !w.Check(index))
        {
            ReplaysRejected++;
            return false;
        }
        if (_rtcpGcm is not null)
        {
            Span<byte> iv = stackalloc byte[12];
            GcmRtcpIv(iv, ssrc, index);
            bool authentic;
            if (encrypted)
            {
                Span<byte> aad = stackalloc byte[12];
                packet[..8].CopyTo(aad);
                BinaryPrimitives.WriteUInt32BigEndian(aad.Slice(8), eIndex);
                var payload = packet[8..end];
                authentic = _rtcpGcm.TryDecrypt(iv, payload, packet.Slice(end, 16), payload, aad);
            }
            else
            {
                if (end + 4 > _scratch.Length)
                    return false;
                packet[..end].CopyTo(_scratch);
                BinaryPrimitives.WriteUInt32BigEndian(_scratch.AsSpan(end), eIndex);
                authentic = _rtcpGcm.TryDecrypt(iv, default, packet.Slice(end, 16), default, _scratch.AsSpan(0, end + 4));
            }
            if (!authentic)
            {
                AuthenticationFailures++;
                return false;
            }
        }
        else
        {
            Span<byte> tag = stackalloc byte[20];
            RtcpTag(packet[..(end + 4)], tag[..RtcpTagLength]);
            if (!CryptographicOperations.FixedTimeEquals(tag[..RtcpTagLength], packet.Slice(end + 4, RtcpTagLength)))
            {
                AuthenticationFailures++;
                return false;
            }
            if (encrypted)
            {
                Span<byte> iv = stackalloc byte[16];
                CmIv(iv, _rtcpSalt, ssrc, index);
                AesCounterMode.Xor(_rtcpAes!, iv, packet[8..end], _scratch);
            }
        }
        s ??= GetOrAdd(ssrc)!;
        (s.RtcpWindow ??= new SrtpReplayWindow()).Mark(index);
        length = end;
        return true;
    }

    /// <summary>Sets the next SRTCP index used for <paramref name="ssrc"/> (tests reproduce vectors that start mid-session).</summary>
    internal void SetNextRtcpIndex(uint ssrc, uint index) => GetOrAdd(ssrc)!.NextRtcpIndex = index;

    /// <summary>The rollover counter tracked for <paramref name="ssrc"/>.</summary>
    internal uint RolloverCounter(uint ssrc) => _sources.TryGetValue(ssrc, out var s) ? s.Roc : 0;

    /// <summary>AES-CM IV (RFC 3711 §4.1.1): (k_s·2¹⁶) XOR (SSRC·2⁶⁴) XOR (i·2¹⁶).</summary>
    internal static void CmIv(Span<byte> iv, ReadOnlySpan<byte> salt, uint ssrc, ulong index)
    {
        iv.Clear();
        salt.CopyTo(iv);
        iv[4] ^= (byte)(ssrc >> 24);
        iv[5] ^= (byte)(ssrc >> 16);
        iv[6] ^= (byte)(ssrc >> 8);
        iv[7] ^= (byte)ssrc;
        for (int i = 0; i < 6; i++)
            iv[13 - i] ^= (byte)(index >> (8 * i));
    }

    /// <summary>RFC 7714 §8.1: 00 00 ‖ SSRC ‖ ROC ‖ SEQ, XOR the 12-octet session salt.</summary>
    private void GcmRtpIv(Span<byte> iv, uint ssrc, uint roc, ushort seq)
    {
        iv[0] = iv[1] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(iv.Slice(2), ssrc);
        BinaryPrimitives.WriteUInt32BigEndian(iv.Slice(6), roc);
        BinaryPrimitives.WriteUInt16BigEndian(iv.Slice(10), seq);
        for (int i = 0; i < 12; i++)
            iv[i] ^= _rtpSalt[i];
    }

    /// <summary>RFC 7714 §9.1: 00 00 ‖ SSRC ‖ 00 00 ‖ 0 ‖ SRTCP index, XOR the session salt.</summary>
    private void GcmRtcpIv(Span<byte> iv, uint ssrc, uint index)
    {
        iv[0] = iv[1] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(iv.Slice(2), ssrc);
        iv[6] = iv[7] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(iv.Slice(8), index & 0x7fffffff);
        for (int i = 0; i < 12; i++)
            iv[i] ^= _rtcpSalt[i];
    }

    private void RtpTag(ReadOnlySpan<byte> authenticated, uint roc, Span<byte> tag)
    {
        Span<byte> r = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(r, roc);
        Span<byte> mac = stackalloc byte[20];
        _rtpHmac!.AppendData(authenticated);
        _rtpHmac.AppendData(r);
        _rtpHmac.GetHashAndReset(mac);
        mac[..tag.Length].CopyTo(tag);
    }

    private void RtcpTag(ReadOnlySpan<byte> authenticated, Span<byte> tag)
    {
        Span<byte> mac = stackalloc byte[20];
        _rtcpHmac!.AppendData(authenticated);
        _rtcpHmac.GetHashAndReset(mac);
        mac[..tag.Length].CopyTo(tag);
    }

    /// <summary>Releases the cipher and MAC objects.</summary>
    public void Dispose()
    {
        _rtpAes?.Dispose();
        _rtcpAes?.Dispose();
        _rtpHmac?.Dispose();
        _rtcpHmac?.Dispose();
        _rtpGcm?.Dispose();
        _rtcpGcm?.Dispose();
    }
}
