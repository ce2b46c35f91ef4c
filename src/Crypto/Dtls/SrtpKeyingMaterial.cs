namespace OspBridge.Crypto.Dtls;

/// <summary>
/// SRTP master keys and salts derived from a DTLS-SRTP handshake (RFC 5764 §4.2), already assigned to directions:
/// "local" protects what this endpoint sends, "remote" what it receives. The exporter output
/// ("EXTRACTOR-dtls_srtp", 2 × (key + salt) bytes) is laid out as
/// client_write_key | server_write_key | client_write_salt | server_write_salt.
/// </summary>
/// <param name="Profile">The negotiated protection profile.</param>
/// <param name="LocalMasterKey">Master key for SRTP/SRTCP we send.</param>
/// <param name="LocalMasterSalt">Master salt for SRTP/SRTCP we send.</param>
/// <param name="RemoteMasterKey">Master key for SRTP/SRTCP we receive.</param>
/// <param name="RemoteMasterSalt">Master salt for SRTP/SRTCP we receive.</param>
public sealed record SrtpKeyingMaterial(SrtpProtectionProfile Profile, byte[] LocalMasterKey, byte[] LocalMasterSalt, byte[] RemoteMasterKey, byte[] RemoteMasterSalt)
{
    /// <summary>Master key and salt lengths of a profile (RFC 5764 §4.1.2, RFC 7714 §12).</summary>
    public static (int KeyLength, int SaltLength) Lengths(SrtpProtectionProfile profile) => profile switch
    {
        SrtpProtectionProfile.Aes128CmHmacSha1_80 or SrtpProtectionProfile.Aes128CmHmacSha1_32 => (16, 14),
        SrtpProtectionProfile.AeadAes128Gcm => (16, 12),
        SrtpProtectionProfile.AeadAes256Gcm => (32, 12),
        _ => throw new CryptoException(CryptoError.InvalidState, $"unknown SRTP profile {(ushort)profile:X4}"),
    };
}

public sealed partial class DtlsEndpoint
{
    /// <summary>The SRTP keys for the negotiated profile (RFC 5764 §4.2), split by direction for this endpoint's role.</summary>
    /// <exception cref="CryptoException">Not connected, or use_srtp was not negotiated (<see cref="CryptoError.InvalidState"/>).</exception>
    public SrtpKeyingMaterial GetSrtpKeyingMaterial()
    {
        if (SelectedSrtpProfile is not { } profile)
            throw new CryptoException(CryptoError.InvalidState, "DTLS: use_srtp was not negotiated");
        var (k, s) = SrtpKeyingMaterial.Lengths(profile);
        var m = ExportKeyingMaterial("EXTRACTOR-dtls_srtp", null, 2 * (k + s));
        var clientKey = m.AsSpan(0, k).ToArray();
        var serverKey = m.AsSpan(k, k).ToArray();
        var clientSalt = m.AsSpan(2 * k, s).ToArray();
        var serverSalt = m.AsSpan(2 * k + s, s).ToArray();
        return IsClient
            ? new SrtpKeyingMaterial(profile, clientKey, clientSalt, serverKey, serverSalt)
            : new SrtpKeyingMaterial(profile, serverKey, serverSalt, clientKey, clientSalt);
    }
}
