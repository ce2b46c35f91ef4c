using System.Security.Cryptography;
using System.Text;
using OspBridge.Osp.Trust;

namespace OspBridge.Osp.Tests.Trust;

/// <summary>Child-process commands for the trust store tests (see <see cref="ChildProcessEntry"/>).</summary>
internal static class TrustStoreChild
{
    /// <summary>A deterministic fingerprint for test peer <paramref name="tag"/>.</summary>
    public static string Fp(string tag) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(tag)));

    public static int Run(string[] args)
    {
        switch (args)
        {
            case ["trust-add", var dir, var tag, var count]:
                {
                    // Adds peers <tag>-0 … <tag>-(count-1), one read-modify-write each.
                    var store = OspTrustStore.Open(dir);
                    for (int i = 0; i < int.Parse(count, System.Globalization.CultureInfo.InvariantCulture); i++)
                        store.RecordAuthenticated(Fp($"{tag}-{i}"), $"{tag} {i}", "192.0.2.1:4433");
                    Console.WriteLine("done");
                    return 0;
                }
            case ["trust-churn", var dir]:
                {
                    // Writes forever (until killed): peer n is added with n grants, then the next; prints each committed n.
                    var store = OspTrustStore.Open(dir);
                    // A previous run killed between a peer's two writes: finish that peer first.
                    if (store.Peers.Count > 0 && store.Peers[^1].Grants.Count == 0)
                        store.Grant(store.Peers[^1].Fingerprint, "app-" + (store.Peers.Count - 1));
                    for (int n = store.Peers.Count; n < 100_000; n++)
                    {
                        var fp = Fp("churn-" + n);
                        store.RecordAuthenticated(fp, "churn " + n);
                        store.Grant(fp, "app-" + n);
                        Console.Out.Flush();
                    }
                    return 0;
                }
            default:
                Console.Error.WriteLine("unknown command");
                return 64;
        }
    }
}
