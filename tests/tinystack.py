"""A tiny CloudFormation template that owns an Elastic Beanstalk application and environment
(and optionally the deployment bucket), for tests that deploy the tiny apps through the one
deploy code path on the emulated Elastic Beanstalk."""

from __future__ import annotations

OPTION = """        - Namespace: {namespace}
          OptionName: {name}
          Value: "{value}"
"""


def template(policy: str | None = None, bucket: bool = False, timeout: int = 20) -> str:
    """The template; ``policy`` is the deployment policy (None: Elastic Beanstalk's default,
    AllAtOnce). The app gets ``TABLE_NAME=photos`` and ``BUCKET_NAME=photo-uploads``."""
    options = [("aws:elasticbeanstalk:command", "Timeout", str(timeout))]
    if policy:
        options.append(("aws:elasticbeanstalk:command", "DeploymentPolicy", policy))
    app_env = "aws:elasticbeanstalk:application:environment"
    options += [(app_env, "TABLE_NAME", "photos"), (app_env, "BUCKET_NAME", "photo-uploads")]
    resources = ""
    outputs = ""
    if bucket:
        resources = """  Deployments:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-deployments"
"""
        outputs = """  DeploymentBucketName:
    Value: !Ref Deployments
"""
    settings = "".join(OPTION.format(namespace=n, name=o, value=v) for n, o, v in options)
    return f"""AWSTemplateFormatVersion: "2010-09-09"
Resources:
{resources}  App:
    Type: AWS::ElasticBeanstalk::Application
    Properties:
      ApplicationName: !Sub "${{AWS::StackName}}-app"
  Env:
    Type: AWS::ElasticBeanstalk::Environment
    Properties:
      ApplicationName: !Ref App
      EnvironmentName: !Sub "${{AWS::StackName}}-env"
      SolutionStackName: 64bit Amazon Linux 2023 v4.3.0 running Python 3.12
      OptionSettings:
{settings}Outputs:
{outputs}  ApplicationName:
    Value: !Ref App
  EnvironmentName:
    Value: !Ref Env
  TableName:
    Value: photos
  PhotoBucketName:
    Value: photo-uploads
"""
